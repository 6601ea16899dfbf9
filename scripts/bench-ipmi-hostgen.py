#!/usr/bin/env python3
"""Host-serial side for N ipmi_sim BMCs (used by bench-ipmi.sh with SIM=ipmi_sim).

    bench-ipmi-hostgen.py N TCP_BASE [--period 1.0] [--line-len 100]

Listens on 127.0.0.1:TCP_BASE+i for i in 0..N-1 (ipmi_sim's `sol "tcp:..."`
connects out to it). To each accepted connection it writes one LINE_LEN-byte line
(ending CR LF) per PERIOD seconds, phases spread evenly over the period, and
counts and discards what arrives (what SOL clients typed). Prints
`hostgen ready` once listening and `hostgen connected=C lines=L typed=T` every 10 s.
"""
import asyncio
import sys

n, base = int(sys.argv[1]), int(sys.argv[2])
args = sys.argv[3:]
period = float(args[args.index("--period") + 1]) if "--period" in args else 1.0
line_len = int(args[args.index("--line-len") + 1]) if "--line-len" in args else 100
stats = {"connected": 0, "lines": 0, "typed": 0}


def line(port, seq):
    head = b"bmc %05d line %08d " % (port, seq)
    pad = bytes(ord("a") + k % 26 for k in range(line_len - len(head) - 2))
    return head + pad + b"\r\n"


def handler(i):
    port = base + i

    async def serve(reader, writer):
        stats["connected"] += 1

        async def drain_input():
            while True:
                d = await reader.read(4096)
                if not d:
                    return
                stats["typed"] += len(d)

        rx = asyncio.ensure_future(drain_input())
        loop = asyncio.get_running_loop()
        t = loop.time() + period * i / n
        seq = 0
        try:
            while not rx.done():
                await asyncio.sleep(max(0.0, t - loop.time()))
                t += period
                seq += 1
                writer.write(line(port, seq))
                stats["lines"] += 1
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            rx.cancel()
            stats["connected"] -= 1
            writer.close()

    return serve


async def main():
    for i in range(n):
        await asyncio.start_server(handler(i), "127.0.0.1", base + i)
    print("hostgen ready", flush=True)
    while True:
        await asyncio.sleep(10)
        print("hostgen connected=%(connected)d lines=%(lines)d typed=%(typed)d" % stats, flush=True)


asyncio.run(main())
