"""django-q2 entry points of the alerts app. Thin: an id in (or nothing), a service call."""

from alerts import notify, services


def alerts_evaluate() -> dict:
    """Every minute (a schedule): sample the gauges, run the rules, prune old metrics."""
    return services.alerts_evaluate().as_dict()


def outbox_send(message_id: int) -> None:
    """Enqueued when a notification is queued, after its transaction commits."""
    services.outbox_send(message_id=message_id)


def outbox_flush() -> dict:
    """Every minute (a schedule): messages due for a retry, and claims left by a dead sender."""
    return services.outbox_flush()


def digests() -> list[int]:
    """Every hour (a schedule): from ALERTS_DIGEST_HOUR on, each project's digest of the day, once."""
    return notify.digests_due()
