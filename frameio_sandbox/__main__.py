"""`python -m frameio_sandbox [--port 8001] [--state FILE]`: the sandbox without Django."""

import argparse
import logging
import signal
import threading
from pathlib import Path

from frameio_sandbox.config import SandboxConfig
from frameio_sandbox.server import Sandbox


def serve(config: SandboxConfig, announce=print) -> None:
    """Run a sandbox in the foreground until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sandbox = Sandbox(config).start()
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    data_dir = args.data_dir or (args.state.with_suffix(".data") if args.state else None)
    serve(SandboxConfig(host=args.host, port=args.port, state_file=args.state, data_dir=data_dir))


if __name__ == "__main__":
    main()
