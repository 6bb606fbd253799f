"""Benchmark: N concurrent dashboard websockets on one daphne process.

    .venv/bin/python bench/ws_clients.py [--clients 200] [--events 50] [--rate 10]

Starts daphne (postflow.asgi, embedded mode) on a fresh SQLite database under var/bench/, opens
N websockets over loopback, each with its own staff session (cookie) and the right Origin, and
resumes them all; then this process publishes `--events` live events at `--rate` per second
through `postflow.realtime.publish`, as any producer does. Every client checks that it gets
every event once, in order; the delivery latency is receipt time - publish time. Prints the
server's memory (RSS) idle and with N clients, its CPU while it fans out, and the latencies.
"""

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from pathlib import Path

import psutil
from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import new_workdir  # noqa: E402

os.environ.setdefault("LOG_LEVEL", "WARNING")

from tests.browser import daphne_server, percentile, session_cookies, setup_standalone_django  # noqa: E402


class DashboardClient(WebSocketClientProtocol):
    """Resumes from `last_id` and records each event's (id, receipt time)."""

    last_id = 0
    ready: asyncio.Future
    events: list

    def onOpen(self) -> None:
        self.sendMessage(json.dumps({"type": "resume", "last_id": self.last_id}).encode())

    def onMessage(self, payload: bytes, is_binary: bool) -> None:
        message = json.loads(payload)
        if message["type"] == "ready" and not self.ready.done():
            self.ready.set_result(True)
        elif message["type"] == "event":
            self.events.append((message["id"], time.time() * 1000, message["payload"].get("t", 0)))

    def onClose(self, was_clean: bool, code: int | None, reason: str | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before ready: {code} {reason}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="events per second")
    args = parser.parse_args()

    workdir = new_workdir("ws-clients-")
    database = setup_standalone_django(workdir)
    sessions = session_cookies("bench", args.clients)
    with daphne_server(database=database, var_dir=workdir) as (base, process):
        asyncio.run(_run(args, base, sessions, psutil.Process(process.pid)))


async def _run(args, base: str, sessions: list[str], server: psutil.Process) -> None:
    from postflow import realtime

    loop = asyncio.get_running_loop()
    await asyncio.sleep(1)
    idle_rss = server.memory_info().rss
    last_id = await asyncio.to_thread(realtime.last_event_id)
    port = int(base.rsplit(":", 1)[1])
    started = time.perf_counter()
    clients = await asyncio.gather(*(_connect(loop, base, port, session, last_id) for session in sessions))
    await asyncio.wait_for(asyncio.gather(*(c.ready for c in clients)), timeout=60)
    connect_s = time.perf_counter() - started
    await asyncio.sleep(1)
    connected_rss = server.memory_info().rss
    print(f"{len(clients)} clients connected and resumed in {connect_s:.2f} s")

    cpu_before, wall_before = server.cpu_times(), time.perf_counter()
    for seq in range(args.events):
        await asyncio.to_thread(realtime.publish, "bench", {"seq": seq, "t": time.time() * 1000})
        await asyncio.sleep(1 / args.rate)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(len(c.events) < args.events for c in clients):
        await asyncio.sleep(0.1)
    cpu_after, wall = server.cpu_times(), time.perf_counter() - wall_before
    cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / wall

    latencies, missing, duplicates, out_of_order = [], 0, 0, 0
    for client in clients:
        ids = [event_id for event_id, _, _ in client.events]
        duplicates += len(ids) - len(set(ids))
        out_of_order += sum(1 for a, b in itertools.pairwise(ids) if b <= a)
        missing += args.events - len(set(ids))
        latencies += [received - sent for _, received, sent in client.events]
    for client in clients:
        client.sendClose()
    await asyncio.sleep(0.5)

    mb = 1024 * 1024
    print(
        f"server RSS: idle {idle_rss / mb:.0f} MB, with {len(clients)} clients {connected_rss / mb:.0f} MB "
        f"(+{(connected_rss - idle_rss) / 1024 / len(clients):.0f} KB per client)"
    )
    print(
        f"server CPU while fanning out {args.events} events at {args.rate:g}/s to {len(clients)} clients: "
        f"{100 * cpu:.0f} % of one core"
    )
    print(
        f"delivered {len(latencies)} of {args.events * len(clients)}; missing {missing}, duplicates {duplicates}, "
        f"out of order {out_of_order}"
    )
    if latencies:
        print(
            f"publish -> client latency: median {percentile(latencies, 0.5):.0f} ms, "
            f"p95 {percentile(latencies, 0.95):.0f} ms, max {max(latencies):.0f} ms"
        )


async def _connect(loop, base: str, port: int, session: str, last_id: int) -> DashboardClient:
    factory = WebSocketClientFactory(
        f"ws://127.0.0.1:{port}/ws/dashboard/", origin=base, headers={"Cookie": f"sessionid={session}"}
    )
    ready = loop.create_future()

    class Client(DashboardClient):
        pass

    Client.last_id, Client.ready, Client.events = last_id, ready, []
    factory.protocol = Client
    _, protocol = await loop.create_connection(factory, "127.0.0.1", port)
    return protocol


if __name__ == "__main__":
    main()
