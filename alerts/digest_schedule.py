"""The digests' django-q2 schedules, kept in line with the settings (POSTFLOW_DIGEST_ENABLED,
POSTFLOW_DIGEST_DAILY_HOUR, POSTFLOW_DIGEST_WEEKDAY) after every `manage.py migrate` (`make run` and each
deploy run it): created when missing, moved when the hour or the weekday changed, deleted when off. A row
that already says the right time is left alone, so its next run (advanced by the scheduler) is kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_q.models import Schedule

NAMES = {"day": "alerts.digest_daily", "week": "alerts.digest_weekly"}
FUNCS = {"day": "alerts.tasks.digest_daily", "week": "alerts.tasks.digest_weekly"}
TYPES = {"day": Schedule.DAILY, "week": Schedule.WEEKLY}
INTENDED = "scheduled_at"  # django-q2 passes the time the run was due: the digest's period ends there


def _weekday() -> int:
    return settings.WEEKDAYS.index(settings.POSTFLOW_DIGEST_WEEKDAY)


def next_due(period: str, now: datetime) -> datetime:
    """The next local POSTFLOW_DIGEST_DAILY_HOUR:00 after `now` (on POSTFLOW_DIGEST_WEEKDAY for the week's)."""
    local = timezone.localtime(now)
    due = local.replace(hour=settings.POSTFLOW_DIGEST_DAILY_HOUR, minute=0, second=0, microsecond=0)
    if period == "week":
        due += timedelta(days=(_weekday() - due.weekday()) % 7)
    if due <= local:
        due += timedelta(days=1 if period == "day" else 7)
    return due


def _says_the_right_time(row: Schedule, period: str) -> bool:
    local = timezone.localtime(row.next_run) if row.next_run else None
    return (
        local is not None
        and (row.func, row.schedule_type, row.intended_date_kwarg) == (FUNCS[period], TYPES[period], INTENDED)
        and (local.hour, local.minute) == (settings.POSTFLOW_DIGEST_DAILY_HOUR, 0)
        and (period == "day" or local.weekday() == _weekday())
    )


def digest_schedules_sync(*, now: datetime | None = None) -> dict[str, str]:
    """{schedule name: "created" | "updated" | "kept" | "deleted"}; safe to run any number of times."""
    if not settings.POSTFLOW_DIGEST_ENABLED:
        names = set(Schedule.objects.filter(name__in=NAMES.values()).values_list("name", flat=True))
        Schedule.objects.filter(name__in=names).delete()
        return {name: "deleted" for name in sorted(names)}
    now = now or timezone.now()
    done = {}
    for period, name in NAMES.items():
        row = Schedule.objects.filter(name=name).first()
        if row is not None and _says_the_right_time(row, period):
            done[name] = "kept"
            continue
        fields = {"func": FUNCS[period], "schedule_type": TYPES[period], "intended_date_kwarg": INTENDED}
        Schedule.objects.update_or_create(
            name=name, defaults={**fields, "next_run": next_due(period, now), "repeats": -1}
        )
        done[name] = "created" if row is None else "updated"
    return done


def sync_after_migrate(sender, using: str = "default", **kwargs) -> None:
    """post_migrate receiver (AlertsConfig.ready()); nothing while django-q2's tables are not there."""
    if Schedule._meta.db_table in connections[using].introspection.table_names():
        digest_schedules_sync()
