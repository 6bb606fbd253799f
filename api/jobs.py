"""How the api app's work is enqueued: the one place that names its django-q2 entry points (ids only)."""

from django_q.tasks import async_task


def enqueue_webhook_send(message_id: int) -> None:
    """Send one outgoing webhook message (api.tasks.webhook_send)."""
    async_task("api.tasks.webhook_send", message_id)
