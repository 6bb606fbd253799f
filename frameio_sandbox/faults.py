"""Fault injection: errors, latency, connection resets and bandwidth caps, per endpoint pattern.

    rule = sandbox.faults.add("PUT /s3/*", reset_after=1_000_000, times=1)   # one reset mid-PUT
    sandbox.faults.add("GET /v4/*/status", status=503, rate=0.2)             # 20 % of status calls fail
    sandbox.faults.add("PUT /s3/*", bandwidth=2_000_000)                     # 2 MB/s per connection
    sandbox.faults.add("*", latency=0.05)                                    # 50 ms on everything
    sandbox.faults.ims_token_status = 500                                    # IMS token endpoint down
    sandbox.faults.clear()

A pattern is an `fnmatch` pattern over "METHOD /path" (the path without its query string and without the
sandbox's path prefix); a pattern without a space matches the path alone, any method.

`status` and `reset_after` fire with probability `rate`; `latency` and `bandwidth` apply to every match.
`times` bounds how many matching requests a rule still applies to. Each rule draws from its own
`random.Random` seeded from the sandbox seed and the rule's position, so a given seed gives every rule the
same sequence of outcomes on every run.
"""

import fnmatch
import random
import threading
from dataclasses import dataclass, field


@dataclass
class FaultRule:
    pattern: str = "*"
    status: int | None = None  # answer this HTTP status instead of handling the request (500, 503, 429...)
    rate: float = 1.0  # probability that `status` / `reset_after` fire on a matching request
    latency: float = 0.0  # seconds slept before the request is handled
    reset_after: int | None = None  # reset the connection after reading this many request-body bytes
    bandwidth: int | None = None  # bytes per second, per connection, while reading the request body
    times: int | None = None  # None: every matching request; N: the next N matching requests
    hits: int = 0  # matching requests the rule applied to
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, method: str, path: str) -> bool:
        target = f"{method} {path}" if " " in self.pattern else path
        return fnmatch.fnmatchcase(target, self.pattern)


@dataclass
class FaultPlan:
    """What the faults decided for one request."""

    status: int | None = None
    latency: float = 0.0
    reset_after: int | None = None
    bandwidth: int | None = None


class Faults:
    def __init__(self, seed: int | None = None):
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.ims_token_status: int | None = None  # e.g. 500: the IMS token endpoint answers this
        self.ims_authorize_error: str | None = None  # e.g. "access_denied": the user "declines" consent
        self._lock = threading.Lock()
        self._added = 0

    def add(self, pattern: str = "*", **settings) -> FaultRule:
        with self._lock:
            seed = None if self.seed is None else f"{self.seed}:{self._added}"
            rule = FaultRule(pattern=pattern, **settings, _rng=random.Random(seed))  # noqa: S311 - test faults, not crypto
            self._added += 1
            self.rules.append(rule)
        return rule

    def remove(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules = [r for r in self.rules if r is not rule]

    def clear(self) -> None:
        with self._lock:
            self.rules = []
            self.ims_token_status = None
            self.ims_authorize_error = None

    def plan(self, method: str, path: str) -> FaultPlan:
        plan = FaultPlan()
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path) or (rule.times is not None and rule.hits >= rule.times):
                    continue
                rule.hits += 1
                plan.latency += rule.latency
                if rule.bandwidth:
                    plan.bandwidth = min(plan.bandwidth or rule.bandwidth, rule.bandwidth)
                if (rule.status or rule.reset_after is not None) and rule._rng.random() < rule.rate:
                    plan.status = plan.status or rule.status
                    if plan.reset_after is None:
                        plan.reset_after = rule.reset_after
        return plan
