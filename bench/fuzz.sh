#!/usr/bin/env bash
# Fuzz one parser with AFL++ and SharpFuzz: bench/fuzz.sh TARGET MINUTES
#   TARGET: http-request | http-chunked | resp | path  (bench/Kevents.Fuzz; `--list` prints which are wired)
#   MINUTES: how long afl-fuzz runs (a whole number, at least 1)
# Installs afl++ (apt-get) and the sharpfuzz tool (SharpFuzz.CommandLine 2.3.0, into bench/results/tools) when
# missing, publishes bench/Kevents.Fuzz into a fresh directory, instruments the target's assemblies there with
# sharpfuzz (the repository's own build output is never touched), and runs afl-fuzz seeded from
# bench/fuzz-corpus/TARGET/. Findings land in bench/results/fuzz/TARGET-<date>/findings; every crashing input is
# replayed in-process at the end so its exception is printed. A crashing input, once fixed, belongs in
# bench/fuzz-corpus/TARGET/ so the corpus replay test keeps it fixed.
# Exit code: 0 no crashes or hangs, 1 crashes or hangs found, 2 bad usage or setup failure, 3 target not wired yet.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/bench/results/tools
SHARPFUZZ_VERSION=2.3.0
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

log() { echo "[fuzz] $*" >&2; }
usage() { echo "usage: bench/fuzz.sh TARGET MINUTES   (TARGET: http-request, http-chunked, resp, path)" >&2; exit 2; }

[[ $# == 2 ]] || usage
TARGET=$1
MINUTES=$2
[[ $TARGET =~ ^[a-z-]+$ ]] || usage
[[ $MINUTES =~ ^[0-9]+$ && $MINUTES -ge 1 ]] || { log "MINUTES must be a whole number of at least 1 (got '$MINUTES')"; usage; }
CORPUS=$ROOT/bench/fuzz-corpus/$TARGET
[[ -d $CORPUS ]] && [[ -n $(ls -A "$CORPUS") ]] || { log "no seed corpus in $CORPUS"; exit 2; }

STAMP=$(date +%Y-%m-%d-%H%M%S)
OUT=$ROOT/bench/results/fuzz/$TARGET-$STAMP
BIN=$OUT/bin
mkdir -p "$OUT" "$TOOLS"

AFL_PID=
cleanup() {
    if [[ -n $AFL_PID ]] && kill -0 "$AFL_PID" 2>/dev/null; then
        kill "$AFL_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$AFL_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$AFL_PID" 2>/dev/null
    fi
    [[ -n $AFL_PID ]] && wait "$AFL_PID" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
if ! command -v afl-fuzz >/dev/null; then
    log "afl-fuzz missing, installing afl++"
    { apt-get install -y afl++ >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y afl++ >/dev/null 2>&1; }; } \
        && command -v afl-fuzz >/dev/null || { log "could not install afl++"; exit 2; }
fi
command -v dotnet >/dev/null || { log "dotnet is missing"; exit 2; }
if [[ ! -x $TOOLS/sharpfuzz ]]; then
    log "sharpfuzz missing, installing SharpFuzz.CommandLine $SHARPFUZZ_VERSION into $TOOLS"
    timeout 600 dotnet tool install SharpFuzz.CommandLine --version "$SHARPFUZZ_VERSION" --tool-path "$TOOLS" >"$OUT/sharpfuzz-install.log" 2>&1 \
        || { log "could not install SharpFuzz.CommandLine (see $OUT/sharpfuzz-install.log)"; exit 2; }
fi

# ---------------------------------------------------------------- build and instrument
log "publishing bench/Kevents.Fuzz into $BIN"
timeout 600 dotnet publish "$ROOT/bench/Kevents.Fuzz/Kevents.Fuzz.csproj" -c Release -o "$BIN" -nologo -v quiet >"$OUT/build.log" 2>&1 \
    || { log "build failed (see $OUT/build.log)"; exit 2; }
HARNESS=(dotnet "$BIN/Kevents.Fuzz.dll")
ASSEMBLIES=$("${HARNESS[@]}" --assemblies "$TARGET")
rc=$?
[[ $rc == 3 ]] && exit 3
[[ $rc == 0 && -n $ASSEMBLIES ]] || { log "unknown target '$TARGET'"; exit 2; }
for assembly in $ASSEMBLIES; do
    log "instrumenting $assembly"
    "$TOOLS/sharpfuzz" "$BIN/$assembly" >>"$OUT/instrument.log" 2>&1 || { log "sharpfuzz failed on $assembly (see $OUT/instrument.log)"; exit 2; }
done

# ---------------------------------------------------------------- fuzz
# dotnet itself carries no AFL instrumentation (SharpFuzz provides the coverage map from managed code), so the
# binary check is skipped; a core_pattern that pipes cores elsewhere only delays crash detection here.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1
SECONDS_TO_RUN=$((MINUTES * 60))
log "afl-fuzz on '$TARGET' for $MINUTES min, seeds from $CORPUS ($(ls "$CORPUS" | wc -l) files)"
timeout $((SECONDS_TO_RUN + 120)) afl-fuzz -i "$CORPUS" -o "$OUT/findings" -t 5000 -m none -V "$SECONDS_TO_RUN" \
    -- "${HARNESS[@]}" "$TARGET" >"$OUT/afl.log" 2>&1 &
AFL_PID=$!
wait "$AFL_PID"
rc=$?
AFL_PID=
STATS=$OUT/findings/default/fuzzer_stats
if [[ ! -f $STATS ]]; then
    log "afl-fuzz did not start (exit $rc); the end of $OUT/afl.log:"
    tail -20 "$OUT/afl.log" >&2
    exit 2
fi

stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$STATS"; }
CRASHES=$(stat saved_crashes); CRASHES=${CRASHES:-$(stat unique_crashes)}
HANGS=$(stat saved_hangs); HANGS=${HANGS:-$(stat unique_hangs)}
echo "target=$TARGET minutes=$MINUTES execs=$(stat execs_done) execs_per_sec=$(stat execs_per_sec) corpus=$(stat corpus_count) edges_found=$(stat edges_found) coverage=$(stat bitmap_cvg) crashes=${CRASHES:-?} hangs=${HANGS:-?} findings=$OUT/findings"

shopt -s nullglob
crashes=("$OUT"/findings/default/crashes/id:*)
hangs=("$OUT"/findings/default/hangs/id:*)
if (( ${#crashes[@]} > 0 )); then
    log "replaying ${#crashes[@]} crashing inputs in-process:"
    "${HARNESS[@]}" --replay "$TARGET" "${crashes[@]}" 2>&1 | head -60 >&2
fi
(( ${#hangs[@]} > 0 )) && log "${#hangs[@]} inputs took longer than 5 s: $OUT/findings/default/hangs"
[[ ${CRASHES:-0} == 0 && ${HANGS:-0} == 0 ]] || exit 1
exit 0
