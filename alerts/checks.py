"""System checks of the alerts settings that name shot statuses.

postflow/settings.py reads the list; these checks run with `manage.py check` and every other command
(qcluster, which evaluates the rules, among them), and when the web process starts (postflow/asgi.py).
Registered by AlertsConfig.ready().
"""

from django.conf import settings
from django.core import checks

from shots.workflow import Status


@checks.register()
def check_statuses(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for name in ("ALERT_SHOT_STALE_STATUSES",):
        if unknown := sorted(set(getattr(settings, name)) - set(Status.values)):
            errors.append(
                checks.Error(
                    f"{name}: unknown status {', '.join(unknown)} (statuses: {', '.join(Status.values)})",
                    hint="Comma-separated shot statuses, e.g. review_uploaded,revision_requested.",
                    id="alerts.E001",
                )
            )
    return errors
