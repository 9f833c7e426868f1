using Kevents.Samples;
using LoadGen;

// Kevents' load generator. `dotnet run --project samples/LoadGen -c Release -- --port 7000` loads the EchoServer.
using var cancel = new CancellationTokenSource();
// The first Ctrl+C or SIGTERM ends the measurement early and still prints the result; a second one ends the process.
using IDisposable signals = StopSignals.CancelOnSignal(cancel);
return await LoadGenCli.RunAsync(args, Console.Out, Console.Error, !Console.IsErrorRedirected, cancel.Token);
