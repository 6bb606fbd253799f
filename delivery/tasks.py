"""django-q2 entry points of the delivery app. Thin: an id in, a service call."""

from delivery import batches


def deliver(delivery_id: int) -> dict | None:
    """Enqueued when a shot is approved and POSTFLOW_AUTO_DELIVER is on. Safe to run twice."""
    report = batches.deliver_one(delivery_id=delivery_id)
    return report.as_dict() if report else None
