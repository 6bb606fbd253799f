"""POSTFLOW_API_THROTTLE_RATE read in one place: by the system check, which runs in every process and so
must not import django-ninja (pydantic with it: ~11 MB in the watcher and every worker), and by the
throttle itself (api.auth.TokenRateThrottle), so that what the check accepts is what the API applies."""

import re

# The forms django-ninja's throttles read: a unit with an optional multiplier ("600/min", "20/s", "10/5m"),
# or a bare number of seconds ("100/60").
PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_RATE = re.compile(r"^(\d+)/(\d*)([a-z]*)$")


def parse_rate(text: str) -> tuple[int, int]:
    """ "600/min" -> (600, 60), "10/5m" -> (10, 300), "100/60" -> (100, 60); ValueError for anything else,
    or for no request at all."""
    match = _RATE.match(text.strip())
    if match is None or not (match.group(2) or match.group(3)):
        raise ValueError(f"{text!r} is not a rate such as 600/min")
    unit = match.group(3)
    if unit and unit not in PERIODS:
        raise ValueError(f"{text!r} is not a rate such as 600/min")
    count, multiplier = int(match.group(1)), int(match.group(2) or 1)
    if count < 1 or multiplier < 1:
        raise ValueError(f"{text!r} allows no request")
    return count, multiplier * PERIODS.get(unit, 1)
