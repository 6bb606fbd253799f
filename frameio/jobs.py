"""How Frame.io work is enqueued: the one place that names frameio's django-q2 entry points.

Jobs take ids (django-q2 pickles arguments: never a token or a URL). Call these on commit, so that
the job finds the rows it is about.
"""

from django.db import transaction
from django_q.tasks import async_task


def enqueue_upload_render(render_id: int) -> None:
    """Make sure the render's upload exists, then run it (frameio.tasks.upload_render)."""
    async_task("frameio.tasks.upload_render", render_id)


def enqueue_upload_run(upload_id: int) -> None:
    """One attempt of an existing upload (frameio.tasks.upload_run)."""
    async_task("frameio.tasks.upload_run", upload_id)


def enqueue_webhook_process(delivery_id: int) -> None:
    """Handle a stored webhook delivery (frameio.tasks.webhook_process)."""
    async_task("frameio.tasks.webhook_process", delivery_id)


def upload_render_on_commit(sender: object = None, *, render_id: int, **_signal: object) -> None:
    """Receiver of ingest.signals.render_queued: the upload job, once the queued row is committed. A
    crash between the commit and the enqueue leaves a queued render without a job; the uploads
    reconciler enqueues those."""
    transaction.on_commit(lambda: enqueue_upload_render(render_id))
