#!/usr/bin/python3
"""Cluster scale benchmark (docs/cluster.md, "Scale"): N conmand nodes and one
etcd on loopback share C test consoles.

    scripts/bench-cluster.py [--nodes 5] [--consoles 20000] [--ttl 10] [--bin PATH]

Measures: time from start to every console owned and running; etcd requests per
second in steady state (from etcd's own gRPC counters); CPU and RSS per node over a
steady window; failover after SIGKILL of one node (per console: time until another
node owns it; p50 and max). Starts everything itself on free loopback ports in a
temporary directory and ends only the processes it started.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--nodes", type=int, default=5)
ap.add_argument("--consoles", type=int, default=20000)
ap.add_argument("--ttl", type=int, default=10)
ap.add_argument("--steady", type=int, default=30, help="seconds of steady-state sampling")
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "conmand"))
a = ap.parse_args()

procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cleanup(*_):
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


signal.signal(signal.SIGTERM, lambda *x: (cleanup(), sys.exit(1)))

tmp = tempfile.mkdtemp(prefix="bench-cluster-")
cport, pport = free_port(), free_port()
etcd_url = f"http://127.0.0.1:{cport}"
procs.append(subprocess.Popen(
    ["etcd", "--data-dir", f"{tmp}/etcd", "--listen-client-urls", etcd_url,
     "--advertise-client-urls", etcd_url,
     "--listen-peer-urls", f"http://127.0.0.1:{pport}",
     "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
     "--initial-cluster", f"default=http://127.0.0.1:{pport}",
     "--quota-backend-bytes", str(4 << 30)],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def post(path, body):
    req = urllib.request.Request(etcd_url + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def owners():
    v = post("/v3/kv/range", {"key": b64("/bench/owners/"), "range_end": b64("/bench/owners0")})
    import base64
    out = {}
    for kv in v.get("kvs", []):
        k = base64.b64decode(kv["key"]).decode().rsplit("/", 1)[1]
        out[k] = base64.b64decode(kv.get("value", "")).decode()
    return out


def weight(node, console):
    """conmand_core::cluster::weight: FNV-1a then SplitMix64's finaliser."""
    h = 0xcbf29ce484222325
    for b in node.encode() + b"\xff" + console.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    h = ((h ^ (h >> 30)) * 0xbf58476d1ce4e5b9) & 0xffffffffffffffff
    h = ((h ^ (h >> 27)) * 0x94d049bb133111eb) & 0xffffffffffffffff
    return h ^ (h >> 31)


def placement(consoles, live):
    return {c: max(live, key=lambda n: (weight(n, c), [-ord(x) for x in n])) for c in consoles}


def grpc_started():
    text = urllib.request.urlopen(etcd_url + "/metrics", timeout=10).read().decode()
    total = {}
    for m in re.finditer(r'^grpc_server_started_total\{([^}]*)\} (\S+)$', text, re.M):
        meth = re.search(r'grpc_method="([^"]+)"', m.group(1)).group(1)
        total[meth] = total.get(meth, 0) + float(m.group(2))
    return total


for _ in range(200):
    try:
        post("/v3/kv/range", {"key": b64("x")})
        break
    except Exception:
        time.sleep(0.1)

conf = [f'server port=0 clusterprefix="/bench" clusterttl={a.ttl}',
        'global testopts="B:100,M:10000,N:10000,P:100"']
conf += [f'console name="c{i:05d}" dev="test:" log=""' for i in range(a.consoles)]
text = "\n".join(conf) + "\n"
nodes = {}
t0 = time.time()
for n in range(a.nodes):
    name = f"n{n}"
    path = f"{tmp}/{name}.conf"
    open(path, "w").write(text)
    log = open(f"{tmp}/{name}.log", "w")
    p = subprocess.Popen([a.bin, "-F", "-c", path, "--node", name, "--cluster", etcd_url],
                         stdout=subprocess.DEVNULL, stderr=log)
    procs.append(p)
    nodes[name] = p

# Cold start: every console owned where the placement puts it, and each node
# running what it owns.
names = [f"c{i:05d}" for i in range(a.consoles)]
want = placement(names, list(nodes))
while True:
    o = owners()
    if o == want:
        running = {n: 0 for n in nodes}
        for n in nodes:
            log = open(f"{tmp}/{n}.log").read()
            m = re.findall(r"took \d+ console\(s\); (\d+) owned", log)
            running[n] = int(m[-1]) if m else 0
        counts = {n: sum(1 for v in want.values() if v == n) for n in nodes}
        if all(running[n] == counts[n] for n in nodes):
            break
    if time.time() - t0 > 600:
        print("cold start did not finish in 600 s", file=sys.stderr)
        cleanup()
        sys.exit(1)
    time.sleep(0.5)
cold = time.time() - t0
print(f"cold start: {a.consoles} consoles owned and running on {a.nodes} nodes in {cold:.1f} s")
print("per node:", {n: sum(1 for v in owners().values() if v == n) for n in nodes})

# Steady state.
time.sleep(5)


def cpu_rss(pid):
    st = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    ticks = int(st[11]) + int(st[12])
    rss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    return ticks, rss


hz = os.sysconf("SC_CLK_TCK")
g0 = grpc_started()
c0 = {n: cpu_rss(p.pid) for n, p in nodes.items()}
time.sleep(a.steady)
g1 = grpc_started()
c1 = {n: cpu_rss(p.pid) for n, p in nodes.items()}
rate = {m: (g1.get(m, 0) - g0.get(m, 0)) / a.steady for m in g1}
rate = {m: round(r, 2) for m, r in rate.items() if r > 0}
print(f"etcd requests/s in steady state ({a.steady} s): {sum(rate.values()):.2f} {rate}")
for n in nodes:
    cpu = (c1[n][0] - c0[n][0]) / hz / a.steady * 100
    print(f"  {n}: CPU {cpu:.2f} % of one core, RSS {c1[n][1] / 1024:.1f} MB")

# Failover: SIGKILL one node; per console, the time until another node owns it.
victim = "n1"
theirs = {c for c, v in owners().items() if v == victim}
nodes[victim].kill()
tk = time.time()
moved = {}
while len(moved) < len(theirs) and time.time() - tk < 120:
    o = owners()
    now = time.time() - tk
    for c in theirs:
        if c not in moved and o.get(c) not in (None, victim):
            moved[c] = now
    time.sleep(0.2)
# Owned is not yet running: wait for the survivors to report them running.
times = sorted(moved.values())
if times:
    print(f"failover of {len(theirs)} consoles (TTL {a.ttl} s): p50 {times[len(times) // 2]:.2f} s, "
          f"max {times[-1]:.2f} s, moved {len(times)}")
else:
    print("failover: nothing moved")
rest = [n for n in nodes if n != victim]
print("after failover owners == placement over the survivors:", owners() == placement(names, rest))
cleanup()
