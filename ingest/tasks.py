"""django-q2 entry points for ingest's work. Thin: an id in, a call, nothing else."""

from ingest import proxies, thumbnails


def build_proxy(render_id: int) -> None:
    """Enqueued when a render for review needs a proxy (ingest.services.proxy_request), and by the reconciler."""
    proxies.proxy_build(render_id=render_id)


def proxies_reconcile() -> None:
    """Every minute (a django-q2 schedule): proxies whose job was lost, whose worker died, or to try again."""
    proxies.proxies_reconcile()


def make_thumbnail(render_id: int) -> None:
    """Enqueued by a dashboard page that found a verified render without its poster frame (thumbnail_request)."""
    thumbnails.thumbnail_after_verify(render_id)
