using LoadGen;

// Kevents' load generator. `dotnet run --project samples/LoadGen -c Release -- --port 7000` loads the EchoServer.
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    // The first Ctrl+C ends the measurement early and still prints the result; a second one kills the process.
    if (!cancel.IsCancellationRequested)
    {
        e.Cancel = true;
        cancel.Cancel();
    }
};
return await LoadGenCli.RunAsync(args, Console.Out, Console.Error, !Console.IsErrorRedirected, cancel.Token);
