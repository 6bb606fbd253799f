"""A WAN between the client and the sandbox's S3, for the bodies of part PUTs (and the sandbox's own
fetches in remote upload):

- `rate`: an aggregate cap in bytes per second shared by every connection at once (a token bucket),
  as a studio's uplink is;
- `rtt`: a round trip paid once per request (the request goes out, the answer comes back) and once per
  `window` bytes of body (TCP sends at most a window before it waits for the acknowledgements), so that
  one connection is bounded by window / rtt, as on a real long path;
- `loss`: the probability that a request is cut by a connection reset somewhere in its body (a lost
  link, a middlebox timing out), drawn from a generator seeded from the sandbox's seed.

Set from `SandboxConfig` (`link_rate`, `link_rtt`, `link_window`, `link_loss`), from the standalone
command's flags (`--link-rate`, `--rtt`, `--window`, `--loss`), or live on `sandbox.link` in tests
(`sandbox.link.configure(rate=50e6, rtt=0.04)`). A rate of 0 and an rtt of 0 mean no link at all.
"""

import random
import threading
import time
from dataclasses import dataclass

DEFAULT_WINDOW = 1024 * 1024  # a typical autotuned TCP send window on a long path
_BURST_SECONDS = 0.02  # how far ahead of the bucket a connection may run: a token bucket's depth


@dataclass
class LinkSettings:
    rate: float = 0.0  # bytes per second shared by every connection; 0: no aggregate cap
    rtt: float = 0.0  # seconds per request and per window of body bytes
    window: int = DEFAULT_WINDOW  # body bytes a connection sends per round trip
    loss: float = 0.0  # probability that a request's connection is reset in its body


class Link:
    """The shared state of the emulated link: one token bucket, one seeded generator for losses."""

    def __init__(self, settings: LinkSettings | None = None, seed: int | None = None) -> None:
        self.settings = settings or LinkSettings()
        self._lock = threading.Lock()
        self._next_free = 0.0  # monotonic time at which the bucket has room again
        self._rng = random.Random(None if seed is None else f"{seed}:link")  # noqa: S311 - test faults
        self.resets = 0  # requests the link cut

    def configure(self, **values) -> None:
        """Change the link while the sandbox runs: rate, rtt, window, loss."""
        for name, value in values.items():
            if not hasattr(self.settings, name):
                raise TypeError(f"the link has no setting {name!r}")
            setattr(self.settings, name, value)

    @property
    def active(self) -> bool:
        s = self.settings
        return bool(s.rate or s.rtt or s.loss)

    def connection(self, body_length: int) -> "LinkConnection":
        """What one request's body goes through; decides now whether (and where) it is reset."""
        reset_at = None
        if self.settings.loss and body_length > 0:
            with self._lock:
                if self._rng.random() < self.settings.loss:
                    reset_at = int(body_length * self._rng.uniform(0.05, 0.95))
                    self.resets += 1
        return LinkConnection(self, reset_at)

    def take(self, nbytes: int) -> None:
        """Wait until the shared bucket lets `nbytes` through (reservations in arrival order)."""
        rate = self.settings.rate
        if not rate:
            return
        with self._lock:
            now = time.monotonic()
            start = max(self._next_free, now - _BURST_SECONDS)
            self._next_free = start + nbytes / rate
            wait = self._next_free - now - _BURST_SECONDS
        if wait > 0:
            time.sleep(wait)


class LinkConnection:
    """One request on the link: its round trips and where its reset falls."""

    def __init__(self, link: Link, reset_at: int | None) -> None:
        self.link = link
        self.reset_at = reset_at
        self._window_start = 0.0
        self._in_window = 0

    def start(self) -> None:
        """The request's own round trip (the headers out, the answer back), before the body."""
        if self.link.settings.rtt:
            time.sleep(self.link.settings.rtt)
        self._window_start = time.monotonic()

    def chunk_limit(self, limit: int) -> int:
        """Read at most what is left of the current window, so that a round trip falls where it should."""
        return max(1, min(limit, self.link.settings.window - self._in_window))

    def carried(self, nbytes: int) -> None:
        """`nbytes` more of the body arrived: pay the shared bucket, and a round trip per full window."""
        self.link.take(nbytes)
        settings = self.link.settings
        if not settings.rtt:
            return
        self._in_window += nbytes
        if self._in_window >= settings.window:
            delay = self._window_start + settings.rtt - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._window_start = time.monotonic()
            self._in_window = 0
