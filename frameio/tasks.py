"""django-q2 entry points for Frame.io work. Thin: an id in, a service call, nothing else."""

import logging

logger = logging.getLogger(__name__)


def upload_render(render_id: int) -> None:
    """Upload a verified render to Frame.io.

    The upload pipeline (folder structure, resumable parts, version stacks) lands with its own
    issue; until then the render stays `queued` in the ledger, which is where that pipeline's
    reconciler will pick it up. Nothing is lost by running this early.
    """
    logger.info("render %s is queued for upload; the Frame.io upload pipeline is not installed yet", render_id)
