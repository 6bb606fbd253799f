"""System checks of the Frame.io settings: FRAMEIO_STATUS_MAP must move shots to statuses that exist.

postflow/settings.py parses the "option=status" pairs; these checks run with `manage.py check` and every
other command (qcluster, which applies review decisions, among them), and when the web process starts
(postflow/asgi.py). Registered by FrameioConfig.ready().
"""

from django.conf import settings
from django.core import checks

from shots.workflow import Status


@checks.register()
def check_status_map(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for option, status in settings.FRAMEIO_STATUS_MAP.items():
        if status not in Status.values:
            pair = f"{option}={status}"
            errors.append(
                checks.Error(
                    f"FRAMEIO_STATUS_MAP: {pair!r} is not 'Frame.io option=shot status' "
                    f"(statuses: {', '.join(Status.values)})",
                    hint="Comma-separated pairs, e.g. Approved=review_approved,Needs Changes=revision_requested.",
                    id="frameio.E001",
                )
            )
    return errors


@checks.register()
def check_pull_mode(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Pull mode hands Frame.io a URL under POSTFLOW_PUBLIC_URL: without one there is nothing to fetch."""
    if settings.FRAMEIO_UPLOAD_MODE != "pull" or settings.POSTFLOW_PUBLIC_URL.startswith(("http://", "https://")):
        return []
    return [
        checks.Error(
            "FRAMEIO_UPLOAD_MODE=pull needs POSTFLOW_PUBLIC_URL, the address Frame.io reaches postflow at",
            hint="e.g. https://postflow.example.com, the public name of a cloudflared tunnel to the web process.",
            id="frameio.E010",
        )
    ]
