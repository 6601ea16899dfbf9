#!/usr/bin/env bash
# Benchmark conman-rs's conmand against the stock ConMan conmand on the same load.
#
#   scripts/bench.sh [options] [N ...]        N: unix console counts (default 1000 2000 5000 9000)
#
# For every workload, OUR daemon and the STOCK one run one after the other on the same
# generated config, each with a fresh load generator (crates/conmand/examples/loadgen.rs,
# a separate process). Workloads:
#   unix    N unix-socket consoles, one 100-byte line per second each (random phase),
#           logopts="lock,timestamp", a global log: CPU (utime+stime over the window),
#           RSS/VmHWM, per-console RSS, time until all connected, log bytes vs expected.
#   telnet  the same over raw-TCP/telnet consoles on loopback ports (--telnet-n).
#   flood   --flood-n consoles writing as fast as the daemon reads: timestamped log MB/s.
#   storm   --storm-n busy consoles, then --storm-n clients attach at once: time to all OK.
#   echo    --echo-n busy consoles plus one echoing console: round-trip p50/p99 of one
#           typed byte through the daemon.
#
# Options:
#   --workloads LIST   comma list of unix,telnet,flood,storm,echo (default: all)
#   --daemons LIST     comma list of ours,ours-noalerts,stock (default: ours,stock).
#                      ours: built-in alert rules on (the default) and the HTTP
#                      listener up; after the window, GET /metrics and
#                      GET /api/v1/consoles are timed (5 each, curl: p50 and max).
#                      ours-noalerts: the same with server alertpack="off", so
#                      ours/ours-noalerts is the cost of alert matching.
#   --window S         measurement window in seconds (default 30; flood uses --flood-window)
#   --warmup S         settle time after all consoles are connected (default 5)
#   --flood-window S   (default 10)       --flood-n N  (default 10)
#   --telnet-n N       (default 1000)     --storm-n N  (default 1000)   --echo-n N (default 1000)
#   --label NAME       docs/benchmarks.md section to replace (default: results)
#   --no-docs          do not touch docs/benchmarks.md or the plot
#   --keep             keep the work directory (logs, configs, daemon output;
#                      the flood logs alone are several GB)
#   --smoke            seconds-long self-check for CI: N=20, window 2 s, ours only,
#                      debug build, no docs; fails if any check fails
# Env: STOCK=/usr/sbin/conmand  CONMAN=/usr/bin/conman (for the -q timing; optional)
#
# Every process started here is tracked by PID and ended by PID.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ORIG_ARGS="$*"

WORKLOADS=unix,telnet,flood,storm,echo
DAEMONS=ours,stock
WINDOW=30 WARMUP=5 FLOOD_WINDOW=10 FLOOD_N=10 TELNET_N=1000 STORM_N=1000 ECHO_N=1000
LABEL=results DOCS=1 KEEP=0 SMOKE=0
NS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workloads) WORKLOADS=$2; shift ;;
    --daemons) DAEMONS=$2; shift ;;
    --window) WINDOW=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --flood-window) FLOOD_WINDOW=$2; shift ;;
    --flood-n) FLOOD_N=$2; shift ;;
    --telnet-n) TELNET_N=$2; shift ;;
    --storm-n) STORM_N=$2; shift ;;
    --echo-n) ECHO_N=$2; shift ;;
    --label) LABEL=$2; shift ;;
    --no-docs) DOCS=0 ;;
    --keep) KEEP=1 ;;
    --smoke) SMOKE=1 ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d'; exit 0 ;;
    [0-9]*) NS+=("$1") ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$SMOKE" = 1 ]; then
  NS=(20); DAEMONS=ours; WORKLOADS=unix,telnet,flood,storm,echo
  WINDOW=2 WARMUP=1 FLOOD_WINDOW=1 FLOOD_N=2 TELNET_N=20 STORM_N=20 ECHO_N=20 DOCS=0
fi
[ ${#NS[@]} -gt 0 ] || NS=(1000 2000 5000 9000)
has() { case ",$1," in *",$2,"*) return 0 ;; esac; return 1; }

STOCK=${STOCK:-/usr/sbin/conmand}
CONMAN=${CONMAN:-/usr/bin/conman}
HZ=$(getconf CLK_TCK)
CONNECT_TIMEOUT=120

# ---- build ------------------------------------------------------------------------
if [ "$SMOKE" = 1 ]; then PROFILE=debug; CARGO_FLAGS=(); else PROFILE=release; CARGO_FLAGS=(--release); fi
echo "bench: building conmand and loadgen ($PROFILE)" >&2
cargo build -q "${CARGO_FLAGS[@]}" -p conmand --bin conmand --example loadgen || exit 1
OURS=$ROOT/target/$PROFILE/conmand
LOADGEN=$ROOT/target/$PROFILE/examples/loadgen
if has "$DAEMONS" stock && [ ! -x "$STOCK" ]; then
  echo "bench: stock conmand $STOCK not found; running ours only" >&2
  DAEMONS=ours
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/conman-bench.XXXXXX")
RESULTS=$WORK/results.tsv
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$KEEP" = 1 ]; then echo "bench: work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
cputicks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null; }
stat_field() { tr ' ' '\n' < "$1" 2>/dev/null | awk -F= -v k="$2" '$1==k{print $2}'; }
logbytes() { du -sb "$1" 2>/dev/null | cut -f1; }
daemon_bin() { case "$1" in ours*) echo "$OURS" ;; *) echo "$STOCK" ;; esac; }

# time_get URL: "p50_ms max_ms bytes" of 5 GETs (curl's time_total).
time_get() {
  local i code t size ms=() bytes=0
  for i in 1 2 3 4 5; do
    read -r code t size < <(curl -s -o /dev/null --max-time 20 -w '%{http_code} %{time_total} %{size_download}\n' "$1")
    [ "$code" = 200 ] || { echo "NA NA 0"; return; }
    ms+=("$(awk -v t="$t" 'BEGIN{printf "%.1f", t*1000}')"); bytes=$size
  done
  printf '%s\n' "${ms[@]}" | sort -n | awk -v b="$bytes" '{v[NR]=$1} END{printf "%s %s %s", v[3], v[5], b}'
}

# End a PID we started: TERM, up to 15 s, then KILL.
stop_pid() {
  local p=$1 i
  kill "$p" 2>/dev/null || return 0
  for i in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
  wait "$p" 2>/dev/null
}
forget_pid() { local p=$1 q keep=(); for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done; PIDS=("${keep[@]}"); }

# Result rows: tab-separated key=value fields, one row per (workload, daemon, n).
emit() { printf '%s\n' "$*" | tr ' ' '\t' >> "$RESULTS"; echo "  $*" >&2; }

# run_case WORKLOAD DAEMON N
run_case() {
  local wl=$1 who=$2 n=$3
  local dir=$WORK/$wl-$n-$who
  local bin; bin=$(daemon_bin "$who")
  mkdir -p "$dir/socks" "$dir/logs"
  local genflags=()
  case "$wl" in
    telnet) genflags=(--tcp) ;;
    flood) genflags=(--flood) ;;
    echo) genflags=(--echo) ;;
  esac
  echo "bench: $wl N=$n $who" >&2
  "$LOADGEN" serve "$dir/socks" "$n" "${genflags[@]}" > "$dir/loadgen.out" 2>&1 < /dev/null &
  local gen=$!; PIDS+=("$gen")
  local i
  for i in $(seq 300); do [ -f "$dir/socks/loadgen.ready" ] && break; sleep 0.1; done
  local port; port=$("$LOADGEN" freeport)
  local hport=""
  case "$who" in ours*) hport=$("$LOADGEN" freeport) ;; esac
  {
    [ -n "$hport" ] && echo "server http=\"127.0.0.1:$hport\""
    [ "$who" = ours-noalerts ] && echo 'server alertpack="off"'
    echo "server loopback=on"
    echo "server port=$port"
    echo "server logdir=\"$dir/logs\""
    echo 'global log="%N.log"'
    echo 'global logopts="lock,timestamp"'
    if [ "$wl" = telnet ]; then
      awk '{printf "console name=\"c%04d\" dev=\"127.0.0.1:%d\"\n", NR-1, $1}' "$dir/socks/ports"
    else
      for ((i = 0; i < n; i++)); do
        printf 'console name="c%04d" dev="unix:%s/socks/c%04d.sock"\n' "$i" "$dir" "$i"
      done
    fi
    [ "$wl" = echo ] && echo "console name=\"echo\" dev=\"unix:$dir/socks/echo.sock\""
  } > "$dir/conman.conf"
  local t_start; t_start=$(now_ms)
  "$bin" -F -v -c "$dir/conman.conf" > "$dir/conmand.out" 2>&1 < /dev/null &
  local cm=$!; PIDS+=("$cm")
  local up=0 alive=yes
  for i in $(seq $((CONNECT_TIMEOUT * 10))); do
    up=$(stat_field "$dir/socks/loadgen.stats" connected); up=${up:-0}
    [ "$up" -ge "$n" ] && break
    kill -0 "$cm" 2>/dev/null || { alive=no; break; }
    sleep 0.1
  done
  local all_ms; all_ms=$(stat_field "$dir/socks/loadgen.stats" all_connected_ms)
  local up_s=NA
  [ "${all_ms:-0}" -gt 0 ] && up_s=$(awk -v a="$all_ms" -v b="$t_start" 'BEGIN{printf "%.2f", (a-b)/1000}')
  local said; said=$(grep -c 'connected to' "$dir/conmand.out")
  if [ "$alive" = no ] || ! kill -0 "$cm" 2>/dev/null; then
    local why; why=$(grep -m1 -E 'ERROR|rror' "$dir/conmand.out" | tr '\t ' '__' | cut -c1-120)
    emit "wl=$wl who=$who n=$n ok=no connected=$up up_s=$up_s died=yes why=${why:-exited}"
    stop_pid "$gen"; forget_pid "$gen"; forget_pid "$cm"; wait "$cm" 2>/dev/null
    return
  fi
  local win=$WINDOW; [ "$wl" = flood ] && win=$FLOOD_WINDOW
  sleep "$WARMUP"
  local t0 c0 g0 b0 s0 rss0 extra=""
  t0=$(now_ms); c0=$(cputicks "$cm"); g0=$(cputicks "$gen")
  b0=$(logbytes "$dir/logs"); s0=$(stat_field "$dir/socks/loadgen.stats" bytes)
  rss0=$(status_kb "$cm" VmRSS)
  case "$wl" in
    storm)
      local out; out=$("$LOADGEN" storm --port "$port" --n "$n" 2>&1)
      extra=$(echo "$out" | sed -n 's/^storm n=[0-9]* //p' | sed -E 's/ top_error="?([^"]*)"?$/ top_error=\1/' | sed -E ':a; s/(top_error=[^ ]*) /\1_/; ta')
      [ -n "$extra" ] || extra="storm_failed=$(echo "$out" | tail -1 | tr ' \t' '__' | cut -c1-100)"
      ;;
    echo)
      local cnt=1000; [ "$SMOKE" = 1 ] && cnt=50
      local out; out=$("$LOADGEN" echo --port "$port" --count "$cnt" 2>&1)
      extra=$(echo "$out" | sed -n 's/^echo //p')
      [ -n "$extra" ] || extra="echo_failed=$(echo "$out" | tail -1 | tr ' \t' '__' | cut -c1-100)"
      ;;
    *) sleep "$win" ;;
  esac
  local t1 c1 g1 b1 s1 rss1 hwm thr fds
  t1=$(now_ms); c1=$(cputicks "$cm"); g1=$(cputicks "$gen")
  b1=$(logbytes "$dir/logs"); s1=$(stat_field "$dir/socks/loadgen.stats" bytes)
  rss1=$(status_kb "$cm" VmRSS); hwm=$(status_kb "$cm" VmHWM)
  thr=$(status_kb "$cm" Threads); fds=$(ls "/proc/$cm/fd" 2>/dev/null | wc -l)
  local q_ms=NA
  if [ -x "$CONMAN" ] && [ "$wl" != flood ]; then
    local q0; q0=$(now_ms)
    timeout 20 "$CONMAN" -d "127.0.0.1:$port" -q > /dev/null 2>&1 && q_ms=$(( $(now_ms) - q0 ))
  fi
  local http_fields=""
  if [ -n "$hport" ] && command -v curl > /dev/null; then
    local m a
    m=$(time_get "http://127.0.0.1:$hport/metrics"); a=$(time_get "http://127.0.0.1:$hport/api/v1/consoles")
    http_fields="metrics_p50_ms=$(echo "$m" | cut -d' ' -f1) metrics_max_ms=$(echo "$m" | cut -d' ' -f2) metrics_bytes=$(echo "$m" | cut -d' ' -f3) api_p50_ms=$(echo "$a" | cut -d' ' -f1) api_max_ms=$(echo "$a" | cut -d' ' -f2) api_bytes=$(echo "$a" | cut -d' ' -f3)"
  fi
  local alive_end=yes; kill -0 "$cm" 2>/dev/null || alive_end=no
  local errs; errs=$(grep -c -i -E 'too many|unable|error' "$dir/conmand.out")
  stop_pid "$cm"; forget_pid "$cm"
  stop_pid "$gen"; forget_pid "$gen"
  local secs; secs=$(awk -v a="$t1" -v b="$t0" 'BEGIN{printf "%.3f", (a-b)/1000}')
  local cpu gcpu logbps sentbps expect
  cpu=$(awk -v a="$c1" -v b="$c0" -v hz="$HZ" -v s="$secs" 'BEGIN{printf "%.2f", 100*(a-b)/hz/s}')
  gcpu=$(awk -v a="$g1" -v b="$g0" -v hz="$HZ" -v s="$secs" 'BEGIN{printf "%.2f", 100*(a-b)/hz/s}')
  logbps=$(awk -v a="$b1" -v b="$b0" -v s="$secs" 'BEGIN{printf "%.0f", (a-b)/s}')
  sentbps=$(awk -v a="${s1:-0}" -v b="${s0:-0}" -v s="$secs" 'BEGIN{printf "%.0f", (a-b)/s}')
  expect=$((n * 120))
  emit "wl=$wl who=$who n=$n ok=$alive_end connected=$up said_connected=$said up_s=$up_s secs=$secs cpu=$cpu loadgen_cpu=$gcpu rss0=$rss0 rss1=$rss1 hwm=$hwm threads=$thr fds=$fds log_Bps=$logbps sent_Bps=$sentbps expect_Bps=$expect query_ms=$q_ms errors=$errs $http_fields $extra"
  [ "$KEEP" = 1 ] || rm -rf "$dir/logs"
}

: > "$RESULTS"
for wl in unix telnet flood storm echo; do
  has "$WORKLOADS" "$wl" || continue
  case "$wl" in
    unix) list=("${NS[@]}") ;;
    telnet) list=("$TELNET_N") ;;
    flood) list=("$FLOOD_N") ;;
    storm) list=("$STORM_N") ;;
    echo) list=("$ECHO_N") ;;
  esac
  for n in "${list[@]}"; do
    for who in ours ours-noalerts stock; do
      has "$DAEMONS" "$who" && run_case "$wl" "$who" "$n"
    done
  done
done

# ---- report -------------------------------------------------------------------------
# get ROW KEY: a field of a result row.
get() { printf '%s\n' "$1" | tr '\t' '\n' | awk -F= -v k="$2" '$1==k{sub(/^[^=]*=/,""); print; exit}'; }
row() { grep -P "^wl=$1\twho=$2\tn=$3\t" "$RESULTS" | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="" || b=="" || b+0==0 || a=="NA" || b=="NA") print "–"; else printf "%.3f", a/b }'; }
mb() { awk -v k="$1" 'BEGIN{ if (k=="") print "–"; else printf "%.1f", k/1024 }'; }

table() {
  echo "| workload | N | daemon | connected | all up (s) | CPU % of 1 core | RSS start→end (MB) | peak (MB) | RSS/console (KiB) | fds | threads | log B/s (expected) | loadgen CPU % | \`conman -q\` ms | extra |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  local r
  while IFS= read -r r; do
    local wl who n; wl=$(get "$r" wl); who=$(get "$r" who); n=$(get "$r" n)
    if [ "$(get "$r" ok)" != yes ]; then
      echo "| $wl | $n | $who | $(get "$r" connected)/$n | $(get "$r" up_s) | **failed**: $(get "$r" why) $( [ "$(get "$r" died)" = yes ] || echo 'died during the window') | | | | | | | | | |"
      continue
    fi
    local rss1; rss1=$(get "$r" rss1)
    local per; per=$(awk -v r="$rss1" -v n="$n" 'BEGIN{printf "%.1f", r/n}')
    local extra; extra=$(get "$r" p50_ms); [ -n "$extra" ] && extra="attach all=$(get "$r" all_ms) ms p50=$extra ms p99=$(get "$r" p99_ms) ms ($(get "$r" attached) ok, $(get "$r" failed) failed$(f=$(get "$r" top_error); [ -n "$f" ] && echo ": ${f//_/ }"))"
    [ -n "$(get "$r" p50_us)" ] && extra="echo p50=$(get "$r" p50_us) µs p99=$(get "$r" p99_us) µs max=$(get "$r" max_us) µs"
    [ -n "$(get "$r" storm_failed)" ] && extra="storm failed: $(get "$r" storm_failed)"
    [ -n "$(get "$r" echo_failed)" ] && extra="echo failed: $(get "$r" echo_failed)"
    [ -n "$(get "$r" metrics_p50_ms)" ] && extra="${extra:+$extra; }GET /metrics p50 $(get "$r" metrics_p50_ms) ms max $(get "$r" metrics_max_ms) ms ($(get "$r" metrics_bytes) B), /api/v1/consoles p50 $(get "$r" api_p50_ms) ms max $(get "$r" api_max_ms) ms ($(get "$r" api_bytes) B)"
    [ "$wl" = flood ] && extra="log $(awk -v b="$(get "$r" log_Bps)" 'BEGIN{printf "%.1f", b/1e6}') MB/s, sent $(awk -v b="$(get "$r" sent_Bps)" 'BEGIN{printf "%.1f", b/1e6}') MB/s"
    local logcol; logcol="$(get "$r" log_Bps) ($(get "$r" expect_Bps))"
    [ "$wl" = flood ] && logcol="$(get "$r" log_Bps) (flood)"
    case "$wl" in storm|echo) logcol="–" ;; esac
    echo "| $wl | $n | $who | $(get "$r" connected)/$n | $(get "$r" up_s) | $(get "$r" cpu) | $(mb "$(get "$r" rss0)")→$(mb "$rss1") | $(mb "$(get "$r" hwm)") | $per | $(get "$r" fds) | $(get "$r" threads) | $logcol | $(get "$r" loadgen_cpu) | $(get "$r" query_ms) | $extra |"
  done < "$RESULTS"
}

ratios() {
  echo "| workload | N | CPU ours/stock | RSS ours/stock | peak RSS ours/stock |"
  echo "|---|---|---|---|---|"
  local r
  while IFS= read -r r; do
    [ "$(get "$r" who)" = ours ] || continue
    local wl n s; wl=$(get "$r" wl); n=$(get "$r" n); s=$(row "$wl" stock "$n")
    [ -n "$s" ] || continue
    if [ "$(get "$s" ok)" != yes ]; then echo "| $wl | $n | stock failed | | |"; continue; fi
    echo "| $wl | $n | $(ratio "$(get "$r" cpu)" "$(get "$s" cpu)") | $(ratio "$(get "$r" rss1)" "$(get "$s" rss1)") | $(ratio "$(get "$r" hwm)" "$(get "$s" hwm)") |"
  done < "$RESULTS"
}

machine() {
  echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr), open-file hard limit $(ulimit -Hn); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- date: $(date -u +%FT%TZ); commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "- stock: $("$STOCK" -V 2>&1 | head -1); ours: conmand $("$OURS" -V 2>&1 | head -1) ($PROFILE build)"
  echo "- command: \`scripts/bench.sh $ORIG_ARGS\` (window ${WINDOW} s, warm-up ${WARMUP} s, flood window ${FLOOD_WINDOW} s; CPU = utime+stime of the daemon over the window, 100 % = one core)"
}

# Alerts on (ours) against off (ours-noalerts), when both ran.
alert_ratios() {
  grep -qP "\twho=ours-noalerts\t" "$RESULTS" || return 0
  echo
  echo "| workload | N | CPU alerts on/off | log B/s alerts on/off |"
  echo "|---|---|---|---|"
  local r
  while IFS= read -r r; do
    [ "$(get "$r" who)" = ours ] || continue
    local wl n s; wl=$(get "$r" wl); n=$(get "$r" n); s=$(row "$wl" ours-noalerts "$n")
    [ -n "$s" ] && [ "$(get "$s" ok)" = yes ] || continue
    echo "| $wl | $n | $(ratio "$(get "$r" cpu)" "$(get "$s" cpu)") | $(ratio "$(get "$r" log_Bps)" "$(get "$s" log_Bps)") |"
  done < "$RESULTS"
}

REPORT=$WORK/report.md
{ machine; echo; table; echo; ratios; alert_ratios; } > "$REPORT"
echo >&2
cat "$REPORT"

# ---- smoke checks -------------------------------------------------------------------
if [ "$SMOKE" = 1 ]; then
  fail=0
  while IFS= read -r r; do
    wl=$(get "$r" wl); n=$(get "$r" n)
    [ "$(get "$r" ok)" = yes ] || { echo "smoke: $wl: daemon failed" >&2; fail=1; continue; }
    [ "$(get "$r" connected)" -ge "$n" ] || { echo "smoke: $wl: only $(get "$r" connected)/$n connected" >&2; fail=1; }
    case "$wl" in
      unix|telnet|flood)
        # Every console's bytes reached its log: at least 80 % of what was sent,
        # plus the 20-byte timestamps, over the same window.
        awk -v l="$(get "$r" log_Bps)" -v s="$(get "$r" sent_Bps)" 'BEGIN{exit !(s > 0 && l >= 0.8 * s)}' ||
          { echo "smoke: $wl: log $(get "$r" log_Bps) B/s for $(get "$r" sent_Bps) B/s sent" >&2; fail=1; } ;;
    esac
    case "$wl" in
      storm) [ "$(get "$r" attached)" = "$n" ] || { echo "smoke: storm: not all attached" >&2; fail=1; } ;;
      echo) [ -n "$(get "$r" p50_us)" ] || { echo "smoke: echo: no round trips" >&2; fail=1; } ;;
    esac
    if command -v curl > /dev/null; then
      case "$(get "$r" metrics_p50_ms) $(get "$r" api_p50_ms)" in
        *NA*|" "*|*" ") echo "smoke: $wl: GET /metrics or /api/v1/consoles failed" >&2; fail=1 ;;
      esac
    fi
  done < "$RESULTS"
  [ "$(wc -l < "$RESULTS")" -ge 5 ] || { echo "smoke: missing workloads" >&2; fail=1; }
  [ "$fail" = 0 ] && echo "smoke: ok" >&2
  exit "$fail"
fi

# ---- docs and plot --------------------------------------------------------------------
if [ "$DOCS" = 1 ]; then
  DOC=$ROOT/docs/benchmarks.md
  [ -f "$DOC" ] || printf '# Benchmarks\n\nRun `scripts/bench.sh` to measure; it rewrites the marked sections below.\n' > "$DOC"
  begin="<!-- bench.sh:$LABEL:begin -->" end="<!-- bench.sh:$LABEL:end -->"
  section=$WORK/section.md
  { echo "$begin"; echo "## Measured: $LABEL"; echo; cat "$REPORT"
    if has "$WORKLOADS" unix && command -v gnuplot > /dev/null; then
      echo; echo "![CPU and RSS vs console count](bench-$LABEL.png)"
    fi
    echo "$end"; } > "$section"
  if grep -qF "$begin" "$DOC"; then
    awk -v b="$begin" -v e="$end" -v f="$section" '
      $0==b { while ((getline l < f) > 0) print l; skip=1; next }
      $0==e { skip=0; next }
      !skip' "$DOC" > "$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  else
    { echo; cat "$section"; } >> "$DOC"
  fi
  echo "bench: wrote section '$LABEL' of docs/benchmarks.md" >&2
  if has "$WORKLOADS" unix && command -v gnuplot > /dev/null; then
    for who in ours stock; do
      while IFS= read -r r; do
        [ "$(get "$r" wl)" = unix ] && [ "$(get "$r" who)" = "$who" ] && [ "$(get "$r" ok)" = yes ] || continue
        echo "$(get "$r" n) $(get "$r" cpu) $(mb "$(get "$r" rss1)")"
      done < "$RESULTS" > "$WORK/plot-$who.dat"
    done
    gnuplot <<EOF
set terminal pngcairo size 1000,420 font ",10"
set output "$ROOT/docs/bench-$LABEL.png"
set multiplot layout 1,2 title "conmand, N unix consoles at 100 B/s, logopts=lock,timestamp ($(date -u +%F))"
set xlabel "consoles"; set grid; set key top left
set ylabel "CPU, % of one core"
plot "$WORK/plot-ours.dat" using 1:2 with linespoints title "conman-rs", \
     "$WORK/plot-stock.dat" using 1:2 with linespoints title "ConMan 0.2.7"
set ylabel "RSS, MB"
plot "$WORK/plot-ours.dat" using 1:3 with linespoints title "conman-rs", \
     "$WORK/plot-stock.dat" using 1:3 with linespoints title "ConMan 0.2.7"
unset multiplot
EOF
    echo "bench: plot docs/bench-$LABEL.png" >&2
  fi
fi
