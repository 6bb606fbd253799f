"""django-q2 entry points of the api app. Thin: an id in (or nothing), a service call."""

from api import webhooks


def webhook_send(message_id: int) -> None:
    """Enqueued on commit of the change a message reports."""
    webhooks.webhook_send(message_id=message_id)


def webhooks_flush() -> dict:
    """Every minute (the `api.webhooks_flush` schedule): retries that are due, and dead senders' claims."""
    return webhooks.webhooks_flush()
