#!/usr/bin/env bash
# Proves the README's "Install" section: the packages build from this tree, and a plain `dotnet new console`
# application elsewhere that references them from a local folder feed builds the README's examples with zero
# warnings and runs them.
#
#   eng/package-smoke.sh            everything happens under a temporary folder, removed afterwards
#   KEEP=1 eng/package-smoke.sh     keep that folder (its path is printed) to look at the feed and the app
#
# Nothing in the tree changes: the build goes to the temporary folder (--artifacts-path), and the application
# restores into its own package folder, so packages of an earlier run with the same version are never used.
# The application's nuget.config adds the feed to the machine's default package source.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

work=$(mktemp -d "${TMPDIR:-/tmp}/kevents-smoke.XXXXXX")
if [ "${KEEP:-}" = 1 ]; then echo "working folder: $work"; else trap 'rm -rf "$work"' EXIT; fi
feed="$work/feed"
app="$work/app"

step() { printf '\n== %s\n' "$*"; }
fail() { echo "package-smoke: FAILED: $*" >&2; exit 1; }

# A .nupkg is a zip: list it, or print one entry. unzip where the machine has it, else Python's zipfile.
zip_list() {
  if command -v unzip >/dev/null; then unzip -Z1 "$1"
  else python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"; fi
}
zip_cat() {
  if command -v unzip >/dev/null; then unzip -p "$1" "$2"
  else python3 -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())' "$1" "$2"; fi
}

# 1. The packages, exactly as `dotnet pack -c Release -o <dir>` makes them.
step "pack into $feed"
for project in "$repo"/src/*/*.csproj; do
  dotnet pack "$project" -c Release -o "$feed" --artifacts-path "$work/artifacts" -nologo -v quiet \
    || fail "dotnet pack $project"
done
ls "$feed"
version=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' "$repo/Directory.Build.props")
[ -n "$version" ] || fail "no VersionPrefix in Directory.Build.props"
for id in Kevents.Native Kevents.Core Kevents.Hybrid Kevents.Net Kevents.File Kevents.Hosting Kevents.Http; do
  nupkg="$feed/$id.$version.nupkg"
  [ -f "$nupkg" ] || fail "$id.$version.nupkg was not produced"
  contents=$(zip_list "$nupkg")
  nuspec=$(zip_cat "$nupkg" "$id.nuspec")
  for file in README.md "lib/net10.0/$id.dll" "lib/net10.0/$id.xml"; do
    grep -qxF "$file" <<<"$contents" || fail "$id: $file missing from the package"
  done
  for element in '<license type="expression">MIT</license>' '<readme>README.md</readme>' '<repository type="git" url="'; do
    grep -qF "$element" <<<"$nuspec" || fail "$id: nuspec lacks $element"
  done
done
grep -qxF buildTransitive/Kevents.Core.props <<<"$(zip_list "$feed/Kevents.Core.$version.nupkg")" \
  || fail "Kevents.Core: buildTransitive/Kevents.Core.props missing"
for nupkg in "$feed"/*.nupkg; do
  case "$(basename "$nupkg")" in
    Kevents.Native.*|Kevents.Core.*|Kevents.Hybrid.*|Kevents.Net.*|Kevents.File.*|Kevents.Hosting.*|Kevents.Http.*) ;;
    *) fail "unexpected package $(basename "$nupkg"): tests, samples and benchmarks must stay IsPackable=false" ;;
  esac
done

# 2. A fresh console application outside the repository (no Directory.Build.props, global.json or nuget.config of
#    ours above it). It references the four top packages only: Kevents.Core, Kevents.Hybrid and Kevents.Native come
#    transitively, and so does Kevents.Core's buildTransitive declaration that keeps CA1416 away.
step "new console app in $app"
dotnet new console -o "$app" -n SmokeApp --no-restore >/dev/null || fail "dotnet new console"
cat > "$app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="kevents-local" value="$feed" />
  </packageSources>
</configuration>
XML
export NUGET_PACKAGES="$work/packages"
for id in Kevents.Net Kevents.File Kevents.Http Kevents.Hosting; do
  dotnet add "$app/SmokeApp.csproj" package "$id" --version "$version" --no-restore >/dev/null || fail "dotnet add package $id"
done
# The generic-host examples also need the host itself (Host.CreateApplicationBuilder), as any host application does.
dotnet add "$app/SmokeApp.csproj" package Microsoft.Extensions.Hosting --version 10.0.0 --no-restore >/dev/null \
  || fail "dotnet add package Microsoft.Extensions.Hosting"
grep -n 'PackageReference' "$app/SmokeApp.csproj"

# 3. Every complete program among the README's C# examples (a block with `using Kevents;` that creates a loop or a group,
#    or with `using Kevents.Hosting;` that calls AddKevents),
#    the repository README's and the packages' own. Each must build with zero warnings; each that stops its loop
#    by itself must also run and exit 0. The others (servers) are built only.
step "README examples"
mkdir -p "$work/examples"
awk -v out="$work/examples" '
  /^```csharp[ \t]*$/ { inblock = 1; body = ""; next }
  inblock && /^```[ \t]*$/ {
    inblock = 0
    if (((body ~ /(^|\n)using Kevents;/ && body ~ /new EventLoop(Group)?\(/) || (body ~ /(^|\n)using Kevents\.Hosting;/ && body ~ /AddKevents\(/)) && !(body in seen)) {
      seen[body] = 1; n++
      printf "%s", body > (out "/" sprintf("%02d", n) ".cs"); close(out "/" sprintf("%02d", n) ".cs")
    }
    next
  }
  inblock { body = body $0 "\n" }
' "$repo/README.md" "$repo"/src/*/README.md
count=$(ls "$work/examples" | wc -l)
[ "$count" -ge 1 ] || fail "no complete example found in the READMEs"

restored=
for example in "$work/examples"/*.cs; do
  title=$(grep -m1 -v -E '^(using |$)' "$example" | cut -c1-70)
  step "example $(basename "$example" .cs): $title"
  cp "$example" "$app/Program.cs"
  log="$work/build-$(basename "$example" .cs).log"
  if ! dotnet build "$app/SmokeApp.csproj" -c Release -warnaserror -nologo $restored >"$log" 2>&1; then
    cat "$log"; cat "$example"; fail "example $(basename "$example") does not build with zero warnings"
  fi
  grep -q -E '[1-9][0-9]* Warning\(s\)' "$log" && { cat "$log"; fail "warnings building $(basename "$example")"; }
  restored=--no-restore
  if grep -q 'loop\.Stop()' "$example"; then
    if ! output=$(cd "$app" && timeout 60 dotnet "bin/Release/net10.0/SmokeApp.dll" 2>&1); then
      echo "$output"; fail "example $(basename "$example") did not run to completion"
    fi
    echo "$output"
  else
    echo "(built only: it serves until stopped)"
  fi
done

step "package smoke passed: $count examples built with zero warnings against Kevents $version from a folder feed"
