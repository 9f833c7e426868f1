using Kevents.Fuzz;

// Kevents.Fuzz TARGET                  run under afl-fuzz (bench/fuzz.sh): one input per iteration from AFL++
// Kevents.Fuzz --assemblies TARGET     the assembly files `sharpfuzz` must instrument for TARGET, one per line
// Kevents.Fuzz --replay TARGET FILE... run the files through TARGET in this process (to reproduce a crash)
// Exit codes: 0 fine, 1 a replayed input failed, 2 bad usage or unknown target, 3 target not wired yet.
const int MaxInput = 1 << 20;

if (args.Length == 0)
{
    return Usage();
}
bool assemblies = args[0] == "--assemblies";
bool replay = args[0] == "--replay";
string name = assemblies || replay ? (args.Length > 1 ? args[1] : "") : args[0];
IFuzzTarget? target = FuzzTargets.Find(name);
if (target is null)
{
    return Usage();
}
if (!target.IsWired())
{
    Console.Error.WriteLine($"Kevents.Fuzz: target '{name}' is not wired to real code yet (its Instrumented list is empty).");
    return 3;
}
if (assemblies)
{
    foreach (System.Reflection.Assembly assembly in target.Instrumented)
    {
        Console.WriteLine(Path.GetFileName(assembly.Location));
    }
    return 0;
}
if (replay)
{
    int failures = 0;
    foreach (string file in args.Skip(2))
    {
        try
        {
            target.Run(File.ReadAllBytes(file));
        }
        catch (Exception ex)
        {
            failures++;
            Console.Error.WriteLine($"{file}: {ex}");
        }
    }
    return failures == 0 ? 0 : 1;
}

// AFL++ hands over each input as a stream; the target wants the bytes.
byte[] buffer = new byte[MaxInput];
SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
{
    int length = 0;
    int read;
    while (length < buffer.Length && (read = stream.Read(buffer, length, buffer.Length - length)) > 0)
    {
        length += read;
    }
    target.Run(buffer.AsSpan(0, length));
});
return 0;

static int Usage()
{
    Console.Error.WriteLine("usage: Kevents.Fuzz TARGET | --assemblies TARGET | --replay TARGET FILE...");
    Console.Error.WriteLine("targets: " + string.Join(", ", FuzzTargets.All.Select(t => t.Name + (t.IsWired() ? "" : " (not wired yet)"))));
    return 2;
}
