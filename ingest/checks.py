"""System checks of the watcher's settings: what a naming template or a stage rule means is ingest's.

postflow/settings.py reads the lists; these checks run with `manage.py check` and every other command
(watch among them), and when the web process starts (postflow/asgi.py). Registered by IngestConfig.ready().
"""

from django.conf import settings
from django.core import checks

from ingest.naming import PLACEHOLDERS, TemplateError, compile_template
from ingest.rules import RuleError, parse_rules


@checks.register()
def check_watcher_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for template in settings.POSTFLOW_NAMING_TEMPLATES:
        try:
            compile_template(template)
        except TemplateError as exc:
            errors.append(
                checks.Error(
                    f"POSTFLOW_NAMING_TEMPLATES: {exc}",
                    hint=f"Placeholders: {', '.join(f'{{{name}}}' for name in PLACEHOLDERS)}; "
                    "{project}, {shot} and {version} exactly once.",
                    id="ingest.E001",
                )
            )
    for entry in settings.POSTFLOW_STAGE_RULES:
        try:
            parse_rules([entry])
        except RuleError as exc:
            errors.append(
                checks.Error(
                    f"POSTFLOW_STAGE_RULES: {exc}",
                    hint="Comma-separated glob=action pairs, first match wins: renders/ae/*=ae_completed,*=review.",
                    id="ingest.E002",
                )
            )
    return errors
