#!/usr/bin/env bash
# IPMI SOL scale benchmark: our conmand vs the stock ConMan conmand on the same BMCs.
#
#   scripts/bench-ipmi.sh N [WINDOW_S]
#
# One run: starts `bmcsim` (crates/conmand/examples/bmcsim.rs) with N BMCs on UDP
# 127.0.0.1:BASE_PORT.. (each emitting one 100-byte line per second), then runs each
# daemon in DAEMONS in turn with N `ipmi:127.0.0.1:PORT` consoles, per-console logs
# (`global log="console.%N.log"`, `logopts="timestamp"`). Once every console has
# logged `connected to` it waits SETTLE_S, then measures over WINDOW_S (default 30):
#   cpu     daemon utime+stime from /proc/PID/stat over the window (100 % = one core)
#   rss     VmRSS at the start and end of the window, hwm = VmHWM (peak RSS)
#   thr/fds threads and open fds at the end of the window
#   log     growth of all console logs over the window in B/s (expect ~N x 120 B/s:
#           100-byte lines + 20-byte timestamps), and as a percentage of that
#   disc    "disconnected" lines the daemon printed during the window
#   sim     bmcsim's own CPU over the window
# then stops the daemon (SIGTERM, SIGKILL after 10 s) and starts the next.
# Prints one result line per daemon; the work dir (configs, daemon stderr) is kept
# only with KEEP=1.
#
# Environment:
#   DAEMONS      "ours stock" (default) or a subset
#   OURS         our conmand (default: target/release/conmand, built if missing)
#   STOCK        stock conmand (default /usr/sbin/conmand)
#   BMCSIM       the simulator (default: target/release/examples/bmcsim, built if missing)
#   BASE_PORT    first UDP port (default 24000; BASE_PORT+N-1 must stay below 32768
#                for FreeIPMI's host:port parsing and the ephemeral range)
#   SETTLE_S     seconds between "all connected" and the window (default 5)
#   CONNECT_S    give up waiting for all consoles after this many seconds (default 180)
#   SIM          bmcsim (default) or ipmi_sim: N OpenIPMI ipmi_sim processes (one state
#                dir each) whose SOL host side is scripts/bench-ipmi-hostgen.py on TCP
#                HOST_BASE.. (default BASE_PORT+N); ipmi_sim drops busy FreeIPMI
#                sessions 30 s after activation, so keep SETTLE_S + WINDOW_S < 30
#   IPMIOPTS     global ipmiopts (default "U:admin,P:secret,C:3,L:admin"; with
#                SIM=ipmi_sim "...,W:opensesspriv,W:solpayloadsize,W:0x08000000",
#                the workarounds FreeIPMI needs against ipmi_sim)
#   KEEP=1       keep the work dir
set -euo pipefail
n=${1:?usage: bench-ipmi.sh N [WINDOW_S]}
window=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
daemons=${DAEMONS:-ours stock}
ours=${OURS:-$root/target/release/conmand}
stock=${STOCK:-/usr/sbin/conmand}
bmcsim=${BMCSIM:-$root/target/release/examples/bmcsim}
base=${BASE_PORT:-24000}
settle=${SETTLE_S:-5}
connect_s=${CONNECT_S:-180}
sim=${SIM:-bmcsim}
if [ "$sim" = ipmi_sim ]; then
  ipmiopts=${IPMIOPTS:-U:admin,P:secret,C:3,L:admin,W:opensesspriv,W:solpayloadsize,W:0x08000000}
else
  ipmiopts=${IPMIOPTS:-U:admin,P:secret,C:3,L:admin}
fi
host_base=${HOST_BASE:-$((base + n))}
hz=$(getconf CLK_TCK)

if [ ! -x "$ours" ] || [ ! -x "$bmcsim" ]; then
  (cd "$root" && cargo build --release -p conmand --bin conmand --example bmcsim)
fi
if [ $((base + n)) -gt 32768 ] || { [ "$sim" = ipmi_sim ] && [ $((host_base + n)) -gt 32768 ]; }; then
  echo "BASE_PORT+N must stay below 32768" >&2; exit 2
fi

work=$(mktemp -d)
sim_pid=
daemon_pid=
sim_pids=()
cleanup() {
  [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null || true
  [ ${#sim_pids[@]} -gt 0 ] && kill "${sim_pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "# work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# utime+stime of processes in clock ticks
cputicks() { local p; for p in "$@"; do cat "/proc/$p/stat"; done | awk '{s += $14 + $15} END {print s}'; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
logbytes() { find "$1" -name 'console.*.log' -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }
free_tcp_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

echo "# $(date -u +%FT%TZ) sim=$sim N=$n window=${window}s nproc=$(nproc) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)" \
     "commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo ?)"

if [ "$sim" = bmcsim ]; then
  "$bmcsim" --count "$n" --base-port "$base" --stats-every-s 0 > "$work/bmcsim.out" 2>&1 &
  sim_pid=$!
  ready='^bmcsim ready'
else
  python3 "$root/scripts/bench-ipmi-hostgen.py" "$n" "$host_base" > "$work/bmcsim.out" 2>&1 &
  sim_pid=$!
  ready='^hostgen ready'
fi
for _ in $(seq 300); do
  grep -q "$ready" "$work/bmcsim.out" 2>/dev/null && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/bmcsim.out" >&2; exit 1; }
  sleep 0.1
done
grep -q "$ready" "$work/bmcsim.out" || { echo "simulator not ready" >&2; exit 1; }
if [ "$sim" = ipmi_sim ]; then
  printf '%s\n' 'mc_setbmc 0x20' 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr' \
    'sel_enable 0x20 1000 0x0a' 'mc_enable 0x20' > "$work/bmc.emu"
  for i in $(seq 0 $((n - 1))); do
    b=$work/sim/b$i
    mkdir -p "$b/state"
    cat > "$b/lan.conf" <<CONF
name "b$i"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $((base + i))
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  user 2 true "admin" "secret" admin 10 none md2 md5 straight
  sol "tcp:127.0.0.1:$((host_base + i))" 115200
CONF
    ipmi_sim -n -c "$b/lan.conf" -f "$work/bmc.emu" -s "$b/state" > "$b/sim.log" 2>&1 < /dev/null &
    sim_pids+=($!)
  done
  # every ipmi_sim has connected its SOL host side
  for _ in $(seq 300); do
    sleep 1
    [ "$(ss -Htn state established "( dport >= :$host_base and dport < :$((host_base + n)) )" | wc -l)" -ge "$n" ] && break
  done
fi

for d in $daemons; do
  case $d in
    ours) bin=$ours ;;
    stock) bin=$stock ;;
    *) echo "unknown daemon $d" >&2; exit 2 ;;
  esac
  dir=$work/$d
  mkdir -p "$dir/logs"
  {
    echo 'server loopback=on'
    echo "server port=$(free_tcp_port)"
    echo "server logdir=\"$dir/logs\""
    echo 'global log="console.%N.log"'
    echo 'global logopts="timestamp"'
    echo "global ipmiopts=\"$ipmiopts\""
    for i in $(seq 0 $((n - 1))); do
      printf 'console name="c%05d" dev="ipmi:127.0.0.1:%d"\n' "$i" $((base + i))
    done
  } > "$dir/conman.conf"

  t_start=$(now)
  "$bin" -F -v -c "$dir/conman.conf" > "$dir/stderr" 2>&1 &
  daemon_pid=$!
  connected=0
  while :; do
    connected=$(grep -o 'Console \[[^]]*\] connected to <' "$dir/stderr" | sort -u | wc -l || true)
    [ "$connected" -ge "$n" ] && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    if [ "$(echo "$(now) - $t_start > $connect_s" | bc)" = 1 ]; then break; fi
    sleep 0.2
  done
  t_conn=$(echo "$(now) - $t_start" | bc)
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo "$d: daemon died; last stderr lines:" >&2; tail -5 "$dir/stderr" >&2
    daemon_pid=; continue
  fi
  sleep "$settle"

  disc0=$(grep -c 'disconnected' "$dir/stderr" || true)
  c0=$(cputicks "$daemon_pid"); s0=$(cputicks "$sim_pid" "${sim_pids[@]}")
  rss0=$(status_kb "$daemon_pid" VmRSS); l0=$(logbytes "$dir/logs"); w0=$(now)
  sleep "$window"
  c1=$(cputicks "$daemon_pid"); s1=$(cputicks "$sim_pid" "${sim_pids[@]}")
  rss1=$(status_kb "$daemon_pid" VmRSS); l1=$(logbytes "$dir/logs"); w1=$(now)
  hwm=$(status_kb "$daemon_pid" VmHWM); thr=$(status_kb "$daemon_pid" Threads)
  fds=$(find "/proc/$daemon_pid/fd" -mindepth 1 | wc -l)
  disc1=$(grep -c 'disconnected' "$dir/stderr" || true)
  el=$(echo "$w1 - $w0" | bc)

  cpu=$(echo "scale=2; 100 * ($c1 - $c0) / $hz / $el" | bc)
  simcpu=$(echo "scale=2; 100 * ($s1 - $s0) / $hz / $el" | bc)
  lograte=$(echo "($l1 - $l0) / $el" | bc)
  logpct=$(echo "scale=1; 100 * $lograte / ($n * 120)" | bc)
  printf '%-5s N=%-5d connected=%d/%d in %.1fs cpu=%s%% rss=%sKB->%sKB hwm=%sKB threads=%s fds=%d log_B/s=%d (%s%% of N*120) disconnects=%d sim_cpu=%s%% version=%s\n' \
    "$d" "$n" "$connected" "$n" "$t_conn" "$cpu" "$rss0" "$rss1" "$hwm" "$thr" "$fds" \
    "$lograte" "$logpct" $((disc1 - disc0)) "$simcpu" \
    "$(grep -o 'Starting ConMan daemon [^ ]*' "$dir/stderr" | head -1 | cut -d' ' -f4)"

  kill "$daemon_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$daemon_pid" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=
done

[ ${#sim_pids[@]} -gt 0 ] && kill "${sim_pids[@]}" 2>/dev/null
kill "$sim_pid"
wait 2>/dev/null || true
sim_pid=
sim_pids=()
echo "# simulator at exit: $(grep -E '^(bmcsim|hostgen) (stats|connected)' "$work/bmcsim.out" | tail -1)"
