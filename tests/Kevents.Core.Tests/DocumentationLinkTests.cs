using System.Text.RegularExpressions;

namespace Kevents.Tests;

/// <summary>
/// Every link in the repository's documentation resolves inside the repository, and no file names a document that
/// is not in it: a reader who follows a reference finds it.
/// </summary>
public partial class DocumentationLinkTests
{
    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    // Not preceded by a path or a shell variable ($STAMP.md is a generated name, not a document).
    [GeneratedRegex(@"(?<![\w/.\-\]$])([A-Za-z][\w./\-]*\.md)\b")]
    private static partial Regex MarkdownName();

    private static readonly string[] s_skippedDirectories = ["bin", "obj", ".git", "node_modules"];

    private static string RepositoryRoot() => TestUtil.RepositoryRoot();

    private static IEnumerable<string> RepositoryFiles(string root, params string[] extensions) =>
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => extensions.Contains(Path.GetExtension(f)))
            .Where(f => !Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar).Any(s_skippedDirectories.Contains));

    [Fact]
    public void EveryMarkdownLinkResolvesInsideTheRepository()
    {
        string root = RepositoryRoot();
        var broken = new List<string>();
        int checkedLinks = 0;
        foreach (string file in RepositoryFiles(root, ".md"))
        {
            foreach (Match match in MarkdownLink().Matches(File.ReadAllText(file)))
            {
                string target = match.Groups[1].Value;
                if (target.StartsWith('#') || target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
                {
                    continue;
                }
                string path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, target.Split('#')[0]));
                checkedLinks++;
                bool inside = path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal);
                if (!inside || !(File.Exists(path) || Directory.Exists(path)))
                {
                    broken.Add($"{Path.GetRelativePath(root, file)}: ]({target})");
                }
            }
        }
        Assert.True(checkedLinks > 5, "the README's links were not found; is the pattern still right?");
        Assert.True(broken.Count == 0, "Links that lead nowhere in the repository:\n" + string.Join('\n', broken));
    }

    [Fact]
    public void NoFileNamesADocumentThatIsNotInTheRepository()
    {
        string root = RepositoryRoot();
        var documents = RepositoryFiles(root, ".md").Select(f => Path.GetRelativePath(root, f)).ToHashSet();
        var documentNames = documents.Select(Path.GetFileName).ToHashSet();
        var unknown = new List<string>();
        foreach (string file in RepositoryFiles(root, ".md", ".cs", ".sh", ".csproj", ".props", ".targets"))
        {
            string text = File.ReadAllText(file);
            string directory = Path.GetDirectoryName(file)!;
            foreach (Match match in MarkdownName().Matches(text))
            {
                string name = match.Groups[1].Value.TrimEnd('.');
                bool known = documents.Contains(name)
                    || File.Exists(Path.Combine(directory, name))
                    || (!name.Contains('/') && documentNames.Contains(name));
                if (!known)
                {
                    unknown.Add($"{Path.GetRelativePath(root, file)}: {name}");
                }
            }
        }
        Assert.True(unknown.Count == 0, "Documents named but not in the repository (write what readers need into docs/ instead):\n" + string.Join('\n', unknown.Distinct()));
    }
}
