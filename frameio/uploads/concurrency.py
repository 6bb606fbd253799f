"""How many part PUTs the process keeps in flight: found, not configured.

Over a WAN each TCP connection to S3 is bounded by its window over the round trip, so the link fills
only with enough parts in flight; on loopback a few suffice and more only cost memory. The controller
measures the process's aggregate rate (every upload of the process shares one budget, so that
MAX_CONCURRENT_UPLOADS files do not each ramp up to the ceiling) and:

- starts small (`START`) and doubles the limit while each step still raises the rate by `GAIN`, in two
  measurements in a row (one may lie: see _decide), over the better of the two the limit before gave; a
  step whose connections each brought nearly their full share (the rate grew by at least `LINEAR` of the
  limit's growth: a latency-bound link, each connection far below the aggregate it can reach) is followed
  by a `JUMP`-fold step instead, so that a long path fills in two steps, not four; above `FAST_RATE` the
  steps are a quarter (the host, not the link, is the limit there, and parts cost memory);
- keeps a ramp step that did not raise the rate but did not lower it either (within GAIN), once an earlier
  step showed each connection capped (more parts in flight shorten an upload's tail there: _worth_keeping);
- then holds the best limit found, and every `REPROBE_SECONDS` tries a quarter more (a probe that
  pays resumes the doubling: an early measurement on a busy host may have stopped the ramp too soon);
- halves it on a sign of congestion (a part failing: a reset, a timeout, a 5xx, 429 or 503), and does
  not grow again for `COOLDOWN_SECONDS`;
- stays within `FRAMEIO_PART_CONCURRENCY_MAX`. `FRAMEIO_PART_CONCURRENCY`, when set, pins the limit.

A measurement counts only when the budget was the bottleneck (a worker waited for a slot): the rate of
an upload's last parts says nothing about how many parts the link wants. And the one right after a
change is thrown away (at least SETTLE_BYTES_PER_CONNECTION per connection added): the bytes are counted
as they go into the socket, and a new connection first fills its kernel buffers (megabytes, at memory
speed), which would look like a rate the link never gave.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

START = 8  # what loopback settled at anyway (4 -> 8 paid there); a long path starts a step further on
GAIN = 0.10  # a step must raise the rate by 10 % to count as "the link rewards it"
# A step that raised the rate by at least LINEAR x what it raised the limit by: each new connection ran as
# fast as the old ones, so the link is far from full; the next step multiplies the limit by JUMP.
LINEAR = 0.8
JUMP = 4
# A step that raised the rate by at least CAPPED x what it raised the limit by: the connections, not the
# host, are the limit (see Controller._worth_keeping).
CAPPED = 0.5
# One measurement: at least this long and this many bytes (a slow link measures over longer windows),
# at most MAX_INTERVAL_SECONDS.
INTERVAL_SECONDS = 0.1
INTERVAL_BYTES = 8 * 1024 * 1024
# What a new connection may park in kernel buffers (its send buffer, and on loopback the peer's autotuned
# receive buffer) before its bytes mean a rate: the measurement after a change waits for that much per
# connection added.
SETTLE_BYTES_PER_CONNECTION = 4 * 1024 * 1024
MAX_INTERVAL_SECONDS = 3.0
# Above this aggregate rate (4 Gbit/s) a step up adds a quarter, not double: a studio's uplink is seldom
# the limit there, the host is (a loopback at 1 GB/s gains nothing from 16 parts over 8), and each part in
# flight holds a 1 MiB buffer and a thread; a fast LAN that does reward more parts still gets them, a
# quarter at a time.
FAST_RATE = 500 * 1_000_000
REPROBE_SECONDS = 5.0
COOLDOWN_SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    limit: int  # parts in flight the process allows now
    in_flight: int
    rate_bps: float  # the aggregate rate of the last measurement
    pinned: bool  # FRAMEIO_PART_CONCURRENCY set: the limit is not adapted


class Controller:
    """The decisions, with an injectable clock; no threads, no settings (PartBudget holds those)."""

    def __init__(self, *, ceiling: int, pinned: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.ceiling = max(1, ceiling)
        self.pinned = pinned
        self.clock = clock
        self.limit = pinned or min(START, self.ceiling)
        self.rate = 0.0
        self._best_rate = 0.0
        self._best_limit = self.limit
        self._ramping = True  # doubling until a step stops paying
        self._doubted = False  # the current step did not pay once already
        # A measurement that paid, waiting for the next one to say the same (see _decide): its rate, and
        # whether it looked linear. None when the last measurement did not pay.
        self._paid_once: tuple[float, bool] | None = None
        self._connections_capped = False  # a step showed each connection capped (see _worth_keeping)
        self._window_start = clock()
        self._window_bytes = 0
        self._window_limited = False
        self._settle_after(self.limit)  # discarded: it follows a change, and new connections fill buffers
        self._quiet_until = 0.0  # no growth before this (after congestion)
        self._next_probe = 0.0

    def carried(self, nbytes: int) -> None:
        self._window_bytes += nbytes

    def waited(self) -> None:
        """A worker found every slot taken: this measurement says something about the limit."""
        self._window_limited = True

    def congestion(self) -> None:
        """A part failed (reset, timeout, 5xx, 429, 503): halve, and measure afresh before growing."""
        if self.pinned:
            return
        now = self.clock()
        self.limit = max(1, self.limit // 2)
        self._best_limit, self._best_rate = self.limit, 0.0
        self._ramping = False
        self._paid_once = None
        self._connections_capped = False  # the path changed: what the ramp learnt of it no longer holds
        self._quiet_until = now + COOLDOWN_SECONDS
        self._next_probe = self._quiet_until
        self._settle_after(0)
        self._restart_window(now)

    def tick(self) -> None:
        """Close the measurement when its interval is over, and decide."""
        now = self.clock()
        elapsed = now - self._window_start
        wanted = self._settle_bytes if self._settling else INTERVAL_BYTES
        if elapsed < INTERVAL_SECONDS or (self._window_bytes < wanted and elapsed < MAX_INTERVAL_SECONDS):
            return
        rate, limited, settling = self._window_bytes / elapsed, self._window_limited, self._settling
        self._restart_window(now)
        if settling:
            self._settling = False
            return
        self.rate = rate
        if self.pinned or not limited or now < self._quiet_until:
            return
        before = self.limit
        self._decide(now)
        if self.limit != before:
            self._settle_after(self.limit - before)
            logger.debug("parts in flight %s -> %s at %.1f MB/s", before, self.limit, self.rate / 1e6)

    def _settle_after(self, added: int) -> None:
        """Discard the next measurement, long enough for the connections added to fill their buffers."""
        self._settling = True
        self._settle_bytes = max(INTERVAL_BYTES, SETTLE_BYTES_PER_CONNECTION * added)

    def _decide(self, now: float) -> None:
        if self.rate > self._best_rate * (1 + GAIN):  # this step paid (or this is the first figure)
            linear = (
                self._ramping
                and self._best_rate > 0
                and self.limit > self._best_limit
                and self.rate / self._best_rate >= 1 + LINEAR * (self.limit / self._best_limit - 1)
            )
            if self._paid_once is None:
                # One measurement may lie either way: the first after a change may still count bytes parked
                # in the new connections' buffers, and the figure it beats may have been a slow start (a
                # loopback went 8 -> 16 -> 32 on that). A step pays when two measurements in a row say so;
                # the limit stays meanwhile, which costs a link that wants the step nothing.
                self._paid_once = (self.rate, linear)
                return
            first_rate, first_linear = self._paid_once
            self._paid_once = None
            if self._ramping and self._best_rate > 0 and self.limit > self._best_limit:  # a ramp step, not a probe
                added = self.limit / self._best_limit - 1
                self._connections_capped |= min(first_rate, self.rate) / self._best_rate - 1 >= CAPPED * added
            if self.limit != self._best_limit:
                self._ramping = True  # a probe that pays resumes the doubling: the link has room
            # The better of the two is what the next step must beat: a step never pays on a slow reading.
            self._best_rate, self._best_limit, self._doubted = max(first_rate, self.rate), self.limit, False
            self._grow(now, JUMP if linear and first_linear else 2)
            return
        self._paid_once = None
        if self.limit != self._best_limit and self._ramping and not self._doubted:
            self._doubted = True  # one measurement on a busy host may lie: measure this step once more
        elif self.limit != self._best_limit:  # it did not pay: back to the limit that did, or stay (below)
            if not (self._ramping and self._worth_keeping()):
                self.limit = self._best_limit
            self._best_limit = self.limit
            self._ramping, self._doubted = False, False
            self._next_probe = now + REPROBE_SECONDS
        else:  # steady at the best limit: the link may change, so the reference follows it slowly
            self._best_rate = max(self._best_rate * 0.9, self.rate)
            if self._ramping:
                self._ramping = False
                self._next_probe = now + REPROBE_SECONDS
            elif now >= self._next_probe:
                self._grow(now)

    def _worth_keeping(self) -> bool:
        """Whether a ramp step that did not pay is kept: it did not lower the rate either (by more than GAIN,
        the measurements' noise), and an earlier ramp step showed each connection capped (adding connections
        raised the rate by at least CAPPED of what it added: window over round trip was the limit). Then an
        upload's parts go in waves, and with more in flight its last parts start sooner and its tail (those
        parts alone, each at one connection's rate) is shorter: 1 GB in 20 MB parts at 10 MB/s a
        connection and 200 MB/s of link takes 6.0 s with 20 parts in flight, 5.2 s with 32, though both
        fill the link while every slot is busy. A link whose limit lies between the two steps looks the
        same from here; the spare parts cost 1 MiB each there. Where no step paid like that (loopback, a
        disk-bound host), a step that does not pay is undone, and so is a probe (+25 % once the ramp is
        over), so the limit does not creep up."""
        return self._connections_capped and self.rate >= self._best_rate * (1 - GAIN)

    def _grow(self, now: float, factor: int = 2) -> None:
        cautious = not self._ramping or self._best_rate >= FAST_RATE
        step = max(1, self.limit // 4) if cautious else self.limit * (factor - 1)
        self.limit = min(self.ceiling, self.limit + step)
        self._next_probe = now + REPROBE_SECONDS

    def _restart_window(self, now: float) -> None:
        self._window_start, self._window_bytes, self._window_limited = now, 0, False


class PartBudget:
    """The process's slots for part PUTs, around a Controller; every uploading thread shares it."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self._cond = threading.Condition()
        self._in_flight = 0

    def acquire(self, should_stop: Callable[[], bool], idle: Callable[[], None] | None = None) -> bool:
        """Wait for a slot; False when `should_stop` says to give up instead. `idle` is called now and then
        while waiting, outside the lock (the caller's own chores, e.g. recording the parts that landed)."""
        while True:
            with self._cond:
                if self._in_flight < self.controller.limit:
                    self._in_flight += 1
                    return True
                self.controller.waited()
                self.controller.tick()
                if should_stop():
                    return False
                self._cond.wait(0.1)
                if self._in_flight < self.controller.limit:
                    self._in_flight += 1
                    return True
            if idle is not None:
                idle()

    def release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def carried(self, nbytes: int) -> None:
        with self._cond:
            self.controller.carried(nbytes)
            before = self.controller.limit
            self.controller.tick()
            if self.controller.limit > before:
                self._cond.notify_all()

    def congestion(self) -> None:
        with self._cond:
            self.controller.congestion()

    def snapshot(self) -> Snapshot:
        with self._cond:
            c = self.controller
            return Snapshot(limit=c.limit, in_flight=self._in_flight, rate_bps=c.rate, pinned=bool(c.pinned))


_budget: PartBudget | None = None
_budget_key: tuple[int | None, int] | None = None
_budget_lock = threading.Lock()


def budget() -> PartBudget:
    """The process's one budget, made again only when the settings it was made from change (tests)."""
    global _budget, _budget_key
    key = (settings.FRAMEIO_PART_CONCURRENCY or None, settings.FRAMEIO_PART_CONCURRENCY_MAX)
    with _budget_lock:
        if _budget is None or _budget_key != key:
            _budget = PartBudget(Controller(ceiling=key[1], pinned=key[0]))
            _budget_key = key
        return _budget
