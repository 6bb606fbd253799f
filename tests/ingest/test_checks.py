"""ingest's system checks: what the naming templates and stage rules mean (settings.py reads them only)."""

from django.core.checks import run_checks

from ingest.checks import check_watcher_settings
from shots.workflow import Status


def test_the_default_config_passes_every_check():
    assert not [e for e in run_checks() if e.is_serious()]
    assert check_watcher_settings() == []


def test_a_bad_template_and_bad_rules_are_reported_naming_the_variable(settings):
    settings.POSTFLOW_NAMING_TEMPLATES = ["{project}_{shot}_v{version}", "{project}_{shot}", "{project}_{take}"]
    settings.POSTFLOW_STAGE_RULES = ["renders/*=publish", "renders/ae/*", "*=review"]
    errors = check_watcher_settings()
    assert [(e.id, e.msg) for e in errors] == [
        ("ingest.E001", "POSTFLOW_NAMING_TEMPLATES: template '{project}_{shot}' needs {version} exactly once"),
        (
            "ingest.E001",
            "POSTFLOW_NAMING_TEMPLATES: template '{project}_{take}': unknown placeholder(s) ['take']; "
            "use ['project', 'scene', 'shot', 'version']",
        ),
        ("ingest.E002", errors[2].msg),
        ("ingest.E002", "POSTFLOW_STAGE_RULES: 'renders/ae/*' is not glob=action (e.g. renders/ae/*=ae_completed)"),
    ]
    assert errors[2].msg.startswith("POSTFLOW_STAGE_RULES: 'renders/*=publish': action must be review, ignore or a")
    assert "ae_completed" in errors[2].msg  # the statuses it could be
    assert all(e.is_serious() for e in errors)


def test_a_bad_shot_tree_template_is_reported_naming_the_variable(settings):
    settings.POSTFLOW_SHOT_TREE_TEMPLATE = "{project}/SEQ{scene:02}/{ae,renders}"
    errors = check_watcher_settings()
    assert [(e.id, e.msg) for e in errors] == [
        (
            "ingest.E003",
            "POSTFLOW_SHOT_TREE_TEMPLATE: the template needs {nomenclature} or {shot}, "
            "or every shot would share its folders",
        )
    ]
    assert "{scene_name}" in errors[0].hint


def test_an_evidence_rule_names_a_status(settings):
    settings.POSTFLOW_EVIDENCE_RULES = ["*/ae/*.aep=ae_in_progress", "*/keys/*.png=review", "no-equals-sign"]
    errors = [e for e in check_watcher_settings() if e.id == "ingest.E004"]
    assert [e.msg for e in errors] == [
        "POSTFLOW_EVIDENCE_RULES: '*/keys/*.png=review': action must be a status (" + ", ".join(Status.values) + ")",
        "POSTFLOW_EVIDENCE_RULES: 'no-equals-sign' is not glob=action (e.g. */ae/*.aep=ae_in_progress)",
    ]


def test_proxy_rules_and_width_are_checked(settings):
    settings.POSTFLOW_PROXY_FOR = ["sequence", "codec:prores", "width>3840", "codec:", "size>2k"]
    settings.POSTFLOW_PROXY_WIDTH = 100
    errors = [e for e in check_watcher_settings() if e.id in ("ingest.E005", "ingest.E006")]
    assert [e.msg for e in errors] == [
        "POSTFLOW_PROXY_FOR: 'codec:' is not a proxy rule "
        "(sequence, codec:<name> (e.g. codec:prores), width>N or height>N (pixels))",
        "POSTFLOW_PROXY_FOR: 'size>2k' is not a proxy rule "
        "(sequence, codec:<name> (e.g. codec:prores), width>N or height>N (pixels))",
        "POSTFLOW_PROXY_WIDTH: 100 is out of range (160–8192 pixels)",
    ]
    assert all(e.is_serious() for e in errors)
