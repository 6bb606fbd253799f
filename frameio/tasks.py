"""django-q2 entry points for Frame.io work. Thin: an id in, a service call, nothing else."""

from frameio import uploads


def upload_render(render_id: int) -> None:
    """Enqueued by the watcher when a render is verified for review."""
    uploads.upload_render(render_id=render_id)


def upload_run(upload_id: int) -> None:
    """Enqueued by the reconciler and by a producer's retry."""
    uploads.upload_run(upload_id=upload_id)


def uploads_reconcile() -> None:
    """Every minute (a django-q2 schedule, due at once on the worker's first start): with the embedded
    sandbox, the review webhook registered once at the local address; what is due, stuck, transcoded."""
    from frameio import webhooks

    webhooks.webhook_register_local()
    uploads.uploads_reconcile()


# --- review from Frame.io ----------------------------------------------------------------------


def webhook_process(delivery_id: int) -> None:
    """Enqueued by the webhook receiver after it stored a delivery."""
    from frameio import webhooks

    webhooks.delivery_process(delivery_id=delivery_id)


def review_reconcile() -> None:
    """Every 5 minutes (a django-q2 schedule): deliveries that lost their job, then a batch of files
    of the shots in review polled for comments and Status, so that a missed webhook changes nothing."""
    from frameio import review, webhooks

    webhooks.deliveries_requeue()
    review.review_reconcile()
