"""Per-endpoint rate limits as Frame.io documents them: a leaky bucket per account_user and endpoint.

The limit and window of every operation come from the published table (the "Rate Limits: N calls per X"
sentence of each operation in the OpenAPI spec, kept in spec.json). The bucket holds `limit` calls and
leaks continuously at limit/window, so a client that spaces its calls evenly never sees a 429 while a
burst of limit+1 calls does. Every answer reports the bucket through x-ratelimit-limit (calls),
x-ratelimit-remaining (calls) and x-ratelimit-window (milliseconds).
"""

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    window_ms: int

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-window": str(self.window_ms),
        }


class RateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (level, at)

    def take(self, key: tuple[str, str], limit: int, window_ms: int, enforce: bool = True) -> RateDecision:
        now = time.monotonic()
        leak_per_second = limit / (window_ms / 1000)
        with self._lock:
            level, at = self._buckets.get(key, (0.0, now))
            level = max(0.0, level - (now - at) * leak_per_second)
            if enforce and level + 1 > limit:
                self._buckets[key] = (level, now)
                return RateDecision(False, limit, 0, window_ms)
            level = min(level + 1, float(limit))
            self._buckets[key] = (level, now)
        return RateDecision(True, limit, int(limit - level), window_ms)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
