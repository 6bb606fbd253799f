"""System checks of the settings the api app reads (run by every command and at web start)."""

from django.conf import settings
from django.core.checks import Error, register

from api.rates import parse_rate


@register()
def check_api_settings(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    try:
        parse_rate(settings.POSTFLOW_API_THROTTLE_RATE)
    except ValueError:
        errors.append(
            Error(
                f"POSTFLOW_API_THROTTLE_RATE={settings.POSTFLOW_API_THROTTLE_RATE!r} is not a rate",
                hint='Requests per token and period, e.g. "600/min", "20/s" or "5000/hour".',
                id="api.E001",
            )
        )
    size, most = settings.POSTFLOW_API_PAGE_SIZE, settings.POSTFLOW_API_MAX_PAGE_SIZE
    if not 1 <= size <= most or most > 1000:
        errors.append(
            Error(
                f"POSTFLOW_API_PAGE_SIZE={size} and POSTFLOW_API_MAX_PAGE_SIZE={most} are out of range",
                hint="1 <= POSTFLOW_API_PAGE_SIZE <= POSTFLOW_API_MAX_PAGE_SIZE <= 1000.",
                id="api.E002",
            )
        )
    for name, least in (
        ("POSTFLOW_API_WEBHOOK_TIMEOUT_SECONDS", 0.1),
        ("POSTFLOW_API_WEBHOOK_MAX_ATTEMPTS", 1),
        ("POSTFLOW_API_WEBHOOK_DISABLE_AFTER", 1),
    ):
        if getattr(settings, name) < least:
            errors.append(Error(f"{name}={getattr(settings, name)} is below {least}", id="api.E003"))
    return errors
