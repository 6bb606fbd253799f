"""django-q2 entry points of the alerts app. Thin: an id in (or nothing), a service call."""

from alerts import digest, services


def alerts_evaluate() -> dict:
    """Every minute (a schedule): sample the gauges, run the rules, prune old metrics."""
    return services.alerts_evaluate().as_dict()


def outbox_send(message_id: int) -> None:
    """Enqueued when a notification is queued, after its transaction commits."""
    services.outbox_send(message_id=message_id)


def outbox_flush() -> dict:
    """Every minute (a schedule): messages due for a retry, and claims left by a dead sender."""
    return services.outbox_flush()


def digest_daily(scheduled_at: str | None = None) -> list[int]:
    """Daily at POSTFLOW_DIGEST_DAILY_HOUR (the `alerts.digest_daily` schedule): the day up to then."""
    return digest.digest_scheduled(period="day", scheduled_at=scheduled_at)


def digest_weekly(scheduled_at: str | None = None) -> list[int]:
    """Weekly, on POSTFLOW_DIGEST_WEEKDAY at that hour (`alerts.digest_weekly`): the seven days up to then."""
    return digest.digest_scheduled(period="week", scheduled_at=scheduled_at)
