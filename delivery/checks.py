"""System check of the delivery settings (run by every manage.py command and the web process)."""

from django.conf import settings
from django.core import checks

from delivery import naming


@checks.register()
def check_template(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        naming.check(settings.POSTFLOW_DELIVERY_TEMPLATE)
    except naming.TemplateError as exc:
        return [
            checks.Error(
                f"POSTFLOW_DELIVERY_TEMPLATE: {exc}",
                hint="e.g. {project}/{scene}/{nomenclature}/{nomenclature}_v{version}.{ext}",
                id="delivery.E001",
            )
        ]
    return []
