#!/usr/bin/env bash
# Check bmcsim against real SOL clients: ipmitool (lanplus, cipher suite 3) and
# FreeIPMI ipmiconsole (no workaround flags) each activate SOL on their own
# simulated BMC, must receive two host lines, type a word, and quit with their
# escape sequence; bmcsim's exit report must show exactly the typed bytes.
#
#   scripts/bmcsim-clients.sh        # exit 0 = PASS
#
# Env: BMCSIM (default target/release/examples/bmcsim, built if missing).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bmcsim=${BMCSIM:-$root/target/release/examples/bmcsim}
[ -x "$bmcsim" ] || (cd "$root" && cargo build --release -p conmand --example bmcsim)
for p in ipmitool ipmiconsole expect; do
  command -v "$p" > /dev/null || { echo "SKIP: $p not installed"; exit 0; }
done
work=$(mktemp -d)
sim_pid=
trap '[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null; rm -rf "$work"' EXIT

# Two consecutive free UDP ports below 32768 (ipmiconsole's host:port limit).
for _ in $(seq 20); do
  base=$((20000 + RANDOM % 12000))
  "$bmcsim" --count 2 --base-port "$base" --stats-every-s 0 > "$work/sim.out" 2>&1 &
  sim_pid=$!
  for _ in $(seq 50); do
    grep -q '^bmcsim ready' "$work/sim.out" && break
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -q '^bmcsim ready' "$work/sim.out" && break
  sim_pid=
done
[ -n "$sim_pid" ] || { echo "FAIL: bmcsim did not start"; exit 1; }
cat "$work/sim.out"

cat > "$work/sol.exp" <<'EOF'
# sol.exp ESCAPE WORD CMD ARGS...: expect SOL up and two host lines, type WORD, quit
set timeout 15
set esc [lindex $argv 0]
set word [lindex $argv 1]
spawn {*}[lrange $argv 2 end]
expect {
  -re {SOL Session operational|SOL established} {}
  timeout { puts "\nFAIL: no SOL session"; exit 1 }
  eof { puts "\nFAIL: client exited"; exit 1 }
}
for {set k 0} {$k < 2} {incr k} {
  expect {
    -re {bmc [0-9]+ line [0-9]+ [a-z]+\r\n} {}
    timeout { puts "\nFAIL: no host line"; exit 1 }
  }
}
send "$word\r"
expect -re {bmc [0-9]+ line [0-9]+ }
send "\r$esc."
expect eof
puts "\nOK: SOL up, host lines received, typed '$word'"
EOF

ipmitool_port=$base
ipmiconsole_port=$((base + 1))
echo "== ipmitool -I lanplus -H 127.0.0.1 -p $ipmitool_port -U admin -P secret -C 3 sol activate"
expect "$work/sol.exp" '~' typed-by-ipmitool \
  ipmitool -I lanplus -H 127.0.0.1 -p "$ipmitool_port" -U admin -P secret -C 3 sol activate
echo "== ipmiconsole -h 127.0.0.1:$ipmiconsole_port -u admin -p secret -I 3"
expect "$work/sol.exp" '&' typed-by-ipmiconsole \
  ipmiconsole -h "127.0.0.1:$ipmiconsole_port" -u admin -p secret -I 3

kill "$sim_pid"
wait "$sim_pid" || true
sim_pid=
echo "== bmcsim exit report"
grep -E '^bmcsim (stats|typed)' "$work/sim.out"
# Each client typed its word + CR (18 / 21 bytes), then a CR right before the escape
# sequence, which a client may drop when it quits at once (ipmiconsole does).
typed() { sed -n "s/^bmcsim typed port=$1 bytes=//p" "$work/sim.out"; }
t1=$(typed "$ipmitool_port"); t2=$(typed "$ipmiconsole_port")
if [ "${t1:-0}" -ge 18 ] && [ "${t1:-0}" -le 19 ] && [ "${t2:-0}" -ge 21 ] && [ "${t2:-0}" -le 22 ] &&
   grep -q 'bad_packets=0' "$work/sim.out"; then
  echo "PASS"
else
  echo "FAIL: typed bytes $t1 / $t2 (want 18-19 / 21-22) or bad packets"; exit 1
fi
