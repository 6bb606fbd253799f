"""System checks of ingest's settings: what a naming template, a stage or evidence rule, or the shot tree means
is ingest's.

postflow/settings.py reads the lists; these checks run with `manage.py check` and every other command
(watch among them), and when the web process starts (postflow/asgi.py). Registered by IngestConfig.ready().
"""

from django.conf import settings
from django.core import checks

from ingest.naming import PLACEHOLDERS, TemplateError, compile_template
from ingest.rules import PROXY_GRAMMAR, RuleError, evidence_rules, parse_proxy_rules, parse_rules
from postflow.lib import folder_template


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
    errors += _rule_errors(
        "POSTFLOW_STAGE_RULES",
        parse_rules,
        hint="Comma-separated glob=action pairs, first match wins: */ae/*=ae_completed,*=review.",
        check_id="ingest.E002",
    )
    # Evidence rules name a status each: a file is evidence of a stage, never "review" or "ignore".
    errors += _rule_errors(
        "POSTFLOW_EVIDENCE_RULES",
        evidence_rules,
        hint="Comma-separated glob=status pairs, first match wins: */ae/*.aep=ae_in_progress.",
        check_id="ingest.E004",
    )
    errors += _check_shot_tree_template()
    errors += _rule_errors(
        "POSTFLOW_PROXY_FOR",
        parse_proxy_rules,
        hint=f"Comma-separated, any one matching: {PROXY_GRAMMAR}. Image sequences always get a proxy.",
        check_id="ingest.E005",
    )
    errors += _check_proxy_width()
    return errors


# A proxy narrower than this cannot carry a readable burn-in; wider than this, H.264 level 6.2 stops.
PROXY_WIDTH_RANGE = (160, 8192)


def _check_proxy_width() -> list[checks.CheckMessage]:
    low, high = PROXY_WIDTH_RANGE
    if low <= settings.POSTFLOW_PROXY_WIDTH <= high:
        return []
    return [
        checks.Error(
            f"POSTFLOW_PROXY_WIDTH: {settings.POSTFLOW_PROXY_WIDTH} is out of range ({low}–{high} pixels)",
            hint="The widest a review proxy is; 1920 by default.",
            id="ingest.E006",
        )
    ]


def _rule_errors(name: str, parse, *, hint: str, check_id: str) -> list[checks.CheckMessage]:
    """One error per entry of the `name` setting that `parse` refuses (every bad one is listed)."""
    errors = []
    for entry in getattr(settings, name):
        try:
            parse([entry])
        except RuleError as exc:
            errors.append(checks.Error(f"{name}: {exc}", hint=hint, id=check_id))
    return errors


def _check_shot_tree_template() -> list[checks.CheckMessage]:
    """The default of `manage.py shot_tree`; a project's own template is validated by its model field."""
    try:
        folder_template.parse(settings.POSTFLOW_SHOT_TREE_TEMPLATE)
    except folder_template.TemplateError as exc:
        return [
            checks.Error(
                f"POSTFLOW_SHOT_TREE_TEMPLATE: {exc}",
                hint="One path relative to the mount, e.g. "
                "{project}/SEQ{scene:02}/{nomenclature}/{ae,ebsynth/keys,ebsynth/out,renders}; placeholders "
                + ", ".join(f"{{{name}}}" for name in folder_template.PLACEHOLDERS)
                + "; {a,b/c} makes one folder per alternative.",
                id="ingest.E003",
            )
        ]
    return []
