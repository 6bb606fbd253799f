"""How ingest's work is enqueued: the one place that names ingest's django-q2 entry points.

Jobs take ids (django-q2 pickles arguments). Call these on commit, so that the job finds the rows it is
about. Tests monkeypatch `async_task` (as they do frameio.jobs').
"""

from django_q.tasks import async_task


def enqueue_proxy_build(render_id: int) -> None:
    """Build the render's review proxy (ingest.tasks.build_proxy), then queue the render for review."""
    async_task("ingest.tasks.build_proxy", render_id)
