"""`python -m frameio_sandbox [--port 8001] [--state FILE]`: the sandbox without Django."""

import argparse
import logging
import signal
import threading
from pathlib import Path

from frameio_sandbox.config import SandboxConfig
from frameio_sandbox.server import Sandbox


def serve(config: SandboxConfig, announce=print, faults: list[tuple[str, dict]] = ()) -> None:
    """Run a sandbox in the foreground until SIGTERM or SIGINT, with these fault rules."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = Sandbox(config)
    for pattern, rule in faults:
        sandbox.faults.add(pattern, **rule)
    sandbox.start()
    announce(f"Frame.io sandbox on {sandbox.base_url} (API {sandbox.base_url}/v4, IMS {sandbox.base_url}/ims)")
    try:
        stop.wait()
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m frameio_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--state", type=Path, help="JSON file that keeps the sandbox's state across restarts")
    parser.add_argument("--data-dir", type=Path, help="where uploaded parts go (default: next to --state)")
    parser.add_argument("--no-rate-limits", action="store_true", help="answer every call (no x-ratelimit 429s)")
    parser.add_argument("--seed", type=int, help="makes faults and the link's losses deterministic")
    wan = parser.add_argument_group("a WAN for S3's traffic (docs/sandbox.md)")
    wan.add_argument("--bandwidth", type=float, default=0, help="bytes per second per part PUT (per connection)")
    wan.add_argument("--link-rate", type=float, default=0, help="bytes per second shared by every part PUT")
    wan.add_argument("--rtt", type=float, default=0, help="seconds of round trip, per request and per window")
    wan.add_argument("--window", type=int, default=1024 * 1024, help="body bytes per round trip (default 1 MiB)")
    wan.add_argument("--loss", type=float, default=0, help="probability that a part PUT is reset mid-body")
    parser.add_argument("--body-chunk-size", type=int, help="the most read from a request body at once (64 KiB)")
    wan.add_argument("--fetch-reset-after", type=int, help="remote upload: cut the first fetch after N bytes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    data_dir = args.data_dir or (args.state.with_suffix(".data") if args.state else None)
    config = SandboxConfig(host=args.host, port=args.port, state_file=args.state, data_dir=data_dir)
    config.rate_limits, config.seed = not args.no_rate_limits, args.seed
    config.part_bandwidth = int(args.bandwidth)
    if args.body_chunk_size:
        config.body_chunk_size = args.body_chunk_size
    config.link_rate, config.link_rtt, config.link_window, config.link_loss = (
        args.link_rate,
        args.rtt,
        args.window,
        args.loss,
    )
    cut = [("FETCH *", {"reset_after": args.fetch_reset_after, "times": 1})] if args.fetch_reset_after else []
    serve(config, faults=cut)


if __name__ == "__main__":
    main()
