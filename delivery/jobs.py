"""How delivery work is enqueued: the one place that names delivery's django-q2 entry points.

Jobs take ids. Tests monkeypatch `delivery.jobs.async_task`.
"""

from django.db import transaction
from django_q.tasks import async_task


def enqueue_deliver(delivery_id: int) -> None:
    """Deliver one approved shot (delivery.tasks.deliver)."""
    async_task("delivery.tasks.deliver", delivery_id)


def deliver_on_commit(delivery_id: int) -> None:
    """Once the approval is committed (the job must find its row). A crash between the commit and the
    enqueue leaves the delivery pending: `manage.py deliver` takes it."""
    transaction.on_commit(lambda: enqueue_deliver(delivery_id))
