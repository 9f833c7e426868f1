namespace Kevents.FileServer.Tests;

/// <summary>
/// A temporary directory tree: "site" is served; "secret" sits beside it, outside the root, and must never be
/// served. Created once per test run; files hold no descriptors, so sharing it does not disturb the fd gate.
/// </summary>
internal sealed class TestSite
{
    public static readonly byte[] SecretBytes = "TOP-SECRET-0123456789-must-never-be-served"u8.ToArray();

    private TestSite(string baseDir)
    {
        BaseDir = baseDir;
        Root = Path.Combine(baseDir, "site");
    }

    public string BaseDir { get; }

    public string Root { get; }

    public Dictionary<string, byte[]> Files { get; } = new();

    public static TestSite Create()
    {
        string baseDir = Path.Combine(Path.GetTempPath(), "kevents-fs-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        var site = new TestSite(baseDir);
        Directory.CreateDirectory(site.Root);
        Directory.CreateDirectory(Path.Combine(site.Root, "sub"));
        Directory.CreateDirectory(Path.Combine(site.Root, "emptydir"));
        File.WriteAllBytes(Path.Combine(baseDir, "secret"), SecretBytes);
        var random = new Random(20_25);
        site.Add("hello.txt", "hello, world\n"u8.ToArray());
        site.Add("empty.txt", []);
        site.Add("page.html", "<!doctype html><title>k</title><p>kevents</p>\n"u8.ToArray());
        site.Add("data.json", "{\"kevents\":true}"u8.ToArray());
        site.Add("one-k.bin", Bytes(random, 1024));
        site.Add("sixty-four-k.bin", Bytes(random, 64 * 1024));
        site.Add("one-m.bin", Bytes(random, 1024 * 1024));
        site.Add("five-m.bin", Bytes(random, 5 * 1024 * 1024));
        site.Add("sub/index.html", "<p>index</p>\n"u8.ToArray());
        site.Add("sub/name with space.txt", "spaced\n"u8.ToArray());
        File.CreateSymbolicLink(Path.Combine(site.Root, "link-out"), Path.Combine(baseDir, "secret"));
        File.CreateSymbolicLink(Path.Combine(site.Root, "link-up"), "../secret");
        File.CreateSymbolicLink(Path.Combine(site.Root, "link-in"), "hello.txt");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(baseDir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return site;
    }

    private void Add(string relative, byte[] content)
    {
        File.WriteAllBytes(Path.Combine(Root, relative), content);
        Files[relative] = content;
    }

    private static byte[] Bytes(Random random, int length)
    {
        byte[] bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
