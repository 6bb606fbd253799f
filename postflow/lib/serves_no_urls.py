"""For the commands whose processes serve no URL (the upload workers' `qcluster`, the watcher,
`frameio_upload`): the system checks run as for every command, except Django's URL checks.

Those import every URLconf, the REST API's among them (postflow.urls.ImportedOnUse), which brings
django-ninja and pydantic: ~11 MB in each worker for pages it never serves. The web process (postflow.asgi)
and `manage.py check` still run them, so a broken URLconf stops the start where URLs are served.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.core.checks import Tags
from django.core.checks.registry import registry


class ServesNoUrls:
    """A BaseCommand mixin: its `check` leaves the URL checks out."""

    def check(self, *args, **kwargs):
        with _without_url_checks():
            return super().check(*args, **kwargs)


@contextlib.contextmanager
def _without_url_checks() -> Iterator[None]:
    # The registry offers no "all but these tags" (a tag filter drops every untagged check, the apps'
    # settings checks among them): the URL checks step out of it for the run. A command checks once,
    # at its start, before it starts a thread.
    url_checks = {check for check in registry.registered_checks if Tags.urls in getattr(check, "tags", ())}
    registry.registered_checks -= url_checks
    try:
        yield
    finally:
        registry.registered_checks |= url_checks
