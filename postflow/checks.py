"""System checks of postflow's own settings: numbers of the right type but out of range.

postflow/settings.py reads each value and stops at start when it is not of its type (one line, exit 2:
postflow/lib/bad_setting.py). What is left, a value of the right type that cannot work (a scan every 0
seconds, an hour 25), is checked here, all at once: `manage.py check` (and `check --deploy`) lists every
problem with its id, every other command refuses to run, and so does the web process (postflow/asgi.py).
What a value means to an app (a status, a naming template) is that app's check (ingest/checks.py, ...).
The ids are listed in README.md ("When a setting is wrong").

Registered by PostflowConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import checks


@dataclass(frozen=True)
class Bound:
    id: str
    names: tuple[str, ...]
    holds: Callable[[float], bool]
    expected: str


def _more_than_zero(value: float) -> bool:
    return value > 0


def _at_least_one(value: float) -> bool:
    return value >= 1


BOUNDS = (
    Bound("postflow.E001", ("POSTFLOW_SCAN_INTERVAL_SECONDS", "POSTFLOW_FULL_SCAN_SECONDS"), _more_than_zero,
          "more than 0 seconds"),
    Bound("postflow.E002", ("POSTFLOW_SETTLE_SECONDS", "POSTFLOW_DURATION_TOLERANCE_FRAMES"), lambda v: v >= 0,
          "0 or more"),
    Bound("postflow.E003", ("POSTFLOW_LIVE_EVENT_RETENTION_HOURS",), _more_than_zero, "more than 0 hours"),
    Bound("postflow.E004", ("POSTFLOW_LIVE_POLL_SECONDS",), lambda v: 0 < v <= 5, "between 0 and 5 seconds"),
    Bound("postflow.E005", ("FRAMEIO_TIMEOUT_SECONDS", "GOOGLE_SHEETS_TIMEOUT_SECONDS"), lambda v: 0 < v <= 600,
          "between 0 and 600 seconds"),
    Bound("postflow.E006", ("MAX_CONCURRENT_UPLOADS", "FRAMEIO_PART_CONCURRENCY_MAX", "FRAMEIO_PART_RETRIES",
                            "FRAMEIO_UPLOAD_MAX_ATTEMPTS", "FRAMEIO_REVIEW_RECONCILE_BATCH",
                            "GOOGLE_SHEETS_MAX_ATTEMPTS", "ALERT_API_MIN_CALLS", "ALERT_UPLOAD_MIN_FINISHED",
                            "ALERT_WEBHOOK_FAILURES", "ALERT_QUARANTINE_GROWTH"), _at_least_one, "at least 1"),
    Bound("postflow.E007", ("ALERTS_METRIC_RETENTION_DAYS", "ALERT_API_WINDOW_MINUTES", "ALERT_UPLOAD_WINDOW_HOURS",
                            "ALERT_UPLOAD_STUCK_MINUTES", "ALERT_HEARTBEAT_MINUTES", "ALERT_SHOT_STALE_DAYS",
                            "ALERT_REFRESH_TOKEN_DAYS", "ALERT_WEBHOOK_WINDOW_MINUTES",
                            "ALERT_QUARANTINE_WINDOW_MINUTES", "ALERT_PROCESS_MEMORY_MB",
                            "FRAMEIO_UPLOAD_COMPLETE_TIMEOUT", "FRAMEIO_UPLOAD_LEASE_SECONDS", "Q_STOP_SECONDS",
                            "SQLITE_TIMEOUT_SECONDS", "FRAMEIO_PULL_URL_TTL"), _more_than_zero, "more than 0"),
    Bound("postflow.E008", ("ALERT_COOLDOWN_MINUTES",), lambda v: v >= 0, "0 or more minutes"),
    Bound("postflow.E009", ("ALERT_API_ERROR_RATE", "ALERT_UPLOAD_FAILURE_RATE"), lambda v: 0 < v <= 100,
          "a percentage between 0 and 100"),
    Bound("postflow.E010", ("POSTFLOW_DIGEST_DAILY_HOUR",), lambda v: 0 <= v <= 23, "an hour from 0 to 23"),
    Bound("postflow.E011", ("Q_WORKERS",), _at_least_one, "at least 1 worker process"),
    Bound("postflow.E012", ("Q_TIMEOUT_SECONDS",), _more_than_zero, "more than 0 seconds"),
    Bound("postflow.E013", ("POSTFLOW_EMPTY_ALERT_MINUTES",), _more_than_zero, "more than 0 minutes"),
    Bound("postflow.E014", ("FRAMEIO_PART_CONCURRENCY",), lambda v: v >= 0, "0 (found by the uploader) or more"),
)  # fmt: skip

# Settings that are read into another setting's structure, not under their own name.
NESTED = {
    "Q_WORKERS": lambda: settings.Q_CLUSTER["workers"],
    "Q_TIMEOUT_SECONDS": lambda: settings.Q_CLUSTER["timeout"],
    "SQLITE_TIMEOUT_SECONDS": lambda: settings.DATABASES["default"].get("OPTIONS", {}).get("timeout", 20),
}


def _value(name: str) -> float | None:
    if name in NESTED:
        return NESTED[name]()
    return getattr(settings, name, None)


@checks.register()
def check_setting_ranges(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every out-of-range value at once, each naming its variable, its value and what it expects."""
    errors = []
    for bound in BOUNDS:
        for name in bound.names:
            value = _value(name)
            if value is not None and not bound.holds(value):
                errors.append(
                    checks.Error(
                        f"{name}={value:g} is out of range: expected {bound.expected}",
                        hint=f"Set {name} in the environment or .env (README.md, the settings table).",
                        id=bound.id,
                    )
                )
    return errors
