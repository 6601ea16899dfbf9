#!/usr/bin/env bash
# Fuzzing campaign for conmand-core (cargo-fuzz / libFuzzer; see docs/reliability.md).
#
#   scripts/fuzz.sh [--seconds N] [--runs N] [TARGET ...]
#
# Builds the targets in fuzz/ (RUSTC_BOOTSTRAP=1: the stable toolchain needs it for
# -Zsanitizer), writes the seed corpus (fuzz/examples/seeds.rs) into fuzz/corpus/, then
# runs one target at a time under `nice`, single process (the machine's cores are
# shared). A target stops after --runs executions or --seconds seconds, whichever
# comes first (defaults: 1,000,000 runs, no time limit), or at its first crash.
#
# Printed per target: executions, coverage (cov = edges, ft = features, from
# libFuzzer's final status line), corpus size, crashes. Any crash-*, timeout-*,
# oom-* or leak-* artifact is copied into fuzz/regressions/<target>/ (replacing its
# EMPTY marker) so `cargo test` replays it from then on. Exit status 1 if any target
# found something.
#
# Options:
#   --seconds N   time limit per target (libFuzzer -max_total_time)
#   --runs N      executions per target (libFuzzer -runs; default 1000000)
#   --no-build    use the binaries already built
# Env: FUZZ_SANITIZER (default address), FUZZ_LOG_DIR (default fuzz/logs).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

ALL_TARGETS=(config pswd handshake client_escape telnet logline ipmi_wire sol ipmi_session access)
SECONDS_LIMIT=0
RUNS=1000000
BUILD=1
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_LIMIT=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) TARGETS+=("$1"); shift ;;
    esac
done
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target $t" >&2; exit 2; }
done

# Per-target libFuzzer limits. `handshake` must flag slow inputs: a request that
# keeps matching busy for over a second is a bug (the daemon bounds matching by a
# work budget, MAX_MATCH_WORK, that should hold it well under that). Its inputs may
# be two ConMan-sized lines (2 x 131071 bytes): the daemon reads request lines up to
# 8 MiB, but the budget, not the line length, is what bounds the work, and real
# pattern bombs fit in 256 KiB.
limits() {
    case "$1" in
        handshake) echo "-timeout=1 -max_len=262144" ;;
        config) echo "-timeout=10 -max_len=16384" ;;
        *) echo "-timeout=10 -max_len=4096" ;;
    esac
}

export RUSTC_BOOTSTRAP=1
SAN=${FUZZ_SANITIZER:-address}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN=fuzz/target/$TRIPLE/release
LOGS=${FUZZ_LOG_DIR:-fuzz/logs}
mkdir -p "$LOGS"

if [ "$BUILD" = 1 ]; then
    echo "== building (${SAN} sanitizer)"
    nice -n 10 cargo fuzz build --sanitizer "$SAN" || exit 1
    echo "== seed corpus"
    (cd fuzz && nice -n 10 cargo run --quiet --release --locked --example seeds -- corpus) || exit 1
fi

summary=()
found=0
for t in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    stamp=$(mktemp)
    log="$LOGS/$t.log"
    # shellcheck disable=SC2046 # limits() is a list of flags
    args=(-artifact_prefix="fuzz/artifacts/$t/" -runs="$RUNS" -rss_limit_mb=2048
        -print_final_stats=1 $(limits "$t"))
    [ "$SECONDS_LIMIT" != 0 ] && args+=(-max_total_time="$SECONDS_LIMIT")
    echo "== $t: ${args[*]}"
    start=$(date +%s)
    nice -n 10 "$BIN/$t" "${args[@]}" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p' <<<"$last")
    crashes=0
    while IFS= read -r a; do
        [ -n "$a" ] || continue
        crashes=$((crashes + 1))
        dest="fuzz/regressions/$t/$(basename "$a")"
        cp "$a" "$dest"
        rm -f "fuzz/regressions/$t/EMPTY"
        echo "   found: $dest"
    done < <(find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' \
        -o -name 'oom-*' -o -name 'leak-*' \) -newer "$stamp")
    rm -f "$stamp"
    if [ "$rc" != 0 ] && [ "$crashes" = 0 ]; then
        echo "   libFuzzer exited $rc without an artifact; see $log"
        crashes=1
    fi
    [ "$crashes" != 0 ] && found=1
    line=$(printf '%-14s execs %9s  cov %6s  ft %7s  corpus %-12s crashes %s  (%ss)' \
        "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" "$took")
    echo "   $line"
    summary+=("$line")
done

echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, logs in $LOGS/)"
printf '%s\n' "${summary[@]}"
exit $found
