#!/usr/bin/env bash
# Regenerates every src project's PublicAPI.Shipped.txt / PublicAPI.Unshipped.txt from the code as it is now.
#
# The build fails (RS0016, RS0017) when the public API differs from those files. That is the point: a public
# change must be deliberate. When it is, run this script and review the diff of the PublicAPI files.
#
#   eng/update-public-api.sh              rewrite both files: the whole API in Shipped, Unshipped empty
#                                         (what a release does; Kevents has not released yet, so this is
#                                         the mode to use for now)
#   eng/update-public-api.sh --unshipped  keep Shipped as released; record additions in Unshipped
#
# After a release, a removed or changed member also needs a line "*REMOVED*<old line from Shipped>" in
# Unshipped; the build names each one (RS0017). Both modes use the analyzer's own code fix through
# `dotnet format analyzers --diagnostics RS0016`.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=all
case "${1:-}" in
  "") ;;
  --unshipped) mode=unshipped ;;
  *) echo "usage: $0 [--unshipped]" >&2; exit 2 ;;
esac

header='#nullable enable'
# Dependency order, so each project's references already build when its turn comes.
projects=(Kevents.Native Kevents.Core Kevents.Hybrid Kevents.Net Kevents.File Kevents.Hosting Kevents.Http)

for name in "${projects[@]}"; do
  dir="src/$name"
  [ -f "$dir/$name.csproj" ] || continue
  if [ "$mode" = all ]; then
    printf '%s\n' "$header" > "$dir/PublicAPI.Shipped.txt"
  fi
  printf '%s\n' "$header" > "$dir/PublicAPI.Unshipped.txt"

  # The analyzer's code fix adds every missing symbol to Unshipped.
  dotnet format analyzers "$dir/$name.csproj" --diagnostics RS0016 --severity warn >/dev/null

  if [ "$mode" = all ]; then
    { printf '%s\n' "$header"
      { grep -v -x -F "$header" "$dir/PublicAPI.Unshipped.txt" || true; } | LC_ALL=C sort -u
    } > "$dir/PublicAPI.Shipped.txt"
    printf '%s\n' "$header" > "$dir/PublicAPI.Unshipped.txt"
  else
    { printf '%s\n' "$header"
      { grep -v -x -F "$header" "$dir/PublicAPI.Unshipped.txt" || true; } | LC_ALL=C sort -u
    } > "$dir/PublicAPI.Unshipped.txt.new"
    mv "$dir/PublicAPI.Unshipped.txt.new" "$dir/PublicAPI.Unshipped.txt"
  fi
  echo "$name: $(grep -c -v -x -F "$header" "$dir/PublicAPI.Shipped.txt") shipped," \
       "$(grep -c -v -x -F "$header" "$dir/PublicAPI.Unshipped.txt") unshipped"
done

# Prove the files now match: a build of the libraries with warnings as errors.
dotnet build src/Kevents.File/Kevents.File.csproj -c Release -nologo -v quiet >/dev/null
dotnet build src/Kevents.Net/Kevents.Net.csproj -c Release -nologo -v quiet >/dev/null
dotnet build src/Kevents.Http/Kevents.Http.csproj -c Release -nologo -v quiet >/dev/null
echo "public API files are up to date"
