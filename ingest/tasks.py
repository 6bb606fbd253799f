"""django-q2 entry points for ingest's work. Thin: an id in, a call, nothing else."""

from ingest import proxies


def build_proxy(render_id: int) -> None:
    """Enqueued when a render for review needs a proxy (ingest.services.proxy_request), and by the reconciler."""
    proxies.proxy_build(render_id=render_id)


def proxies_reconcile() -> None:
    """Every minute (a django-q2 schedule): proxies whose job was lost, whose worker died, or to try again."""
    proxies.proxies_reconcile()
