from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ingest.naming import NameRangeError, TemplateError, compile_template, parse_name
from ingest.rules import RuleError, action_for, parse_rules
from ingest.selectors import resolve_name
from tests.factories import make_project, make_scene, make_shot

DEFAULT = ["{project}_SEQ{scene}_{shot}_v{version}", "{project}_{shot}_v{version}"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("UNDLM_SEQ01_00042_v002.mp4", ("UNDLM", 1, "00042", 2, "mp4")),
        ("UNDLM_00042_v002.mov", ("UNDLM", None, "00042", 2, "mov")),
        ("UNDLM_00042_v2.MOV", ("UNDLM", None, "00042", 2, "mov")),
    ],
)
def test_default_templates_parse_both_forms(name, expected):
    parsed = parse_name(name, DEFAULT)
    assert (parsed.project, parsed.scene, parsed.shot, parsed.version, parsed.extension) == expected


@pytest.mark.parametrize(
    "name", ["UNDLM_00042.mov", "UNDLM_00042_v002_final.mov", "UNDLM-00042-v002.mov", "undlm_00042_vX.mov", ""]
)
def test_names_that_match_no_template(name):
    assert parse_name(name, DEFAULT) is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("UNDLM_00042_v99999999999999999999.mov", "version 99999999999999999999 is out of range (1–99,999)"),
        ("UNDLM_00042_v0.mov", "version 0 is out of range (1–99,999)"),
        ("UNDLM_SEQ100000_00042_v001.mov", "scene 100000 is out of range (0–99,999)"),
        # Past 4,300 digits Python's int() refuses a string: the length is checked first.
        ("UNDLM_00042_v" + "7" * 5000 + ".mov", "version 777"),
    ],
)
def test_numbers_out_of_range_are_refused_with_the_range(name, message):
    with pytest.raises(NameRangeError) as caught:
        parse_name(name, DEFAULT)
    assert message in str(caught.value) and "out of range (" in str(caught.value)
    assert len(str(caught.value)) < 200


def test_the_largest_version_and_leading_zeros_parse():
    assert parse_name("UNDLM_00042_v99999.mov", DEFAULT).version == 99_999
    parsed = parse_name("UNDLM_SEQ000_00042_v0000001.mov", DEFAULT)
    assert (parsed.scene, parsed.version) == (0, 1)


def test_custom_template():
    parsed = parse_name("sh0042.UNDLM.v12.exr", ["sh{shot}.{project}.v{version}"])
    assert (parsed.project, parsed.shot, parsed.version, parsed.extension) == ("UNDLM", "0042", 12, "exr")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{project}_{shot}", "needs {version} exactly once"),
        ("{project}_{shot}_v{version}_{take}", "unknown placeholder"),
        ("{project}_{shot}_{shot}_v{version}", "needs {shot} exactly once"),
    ],
)
def test_bad_templates(template, message):
    with pytest.raises(TemplateError, match=message):
        compile_template(template)


def test_stage_rules():
    rules = parse_rules(["renders/ae/*=ae_completed", "scratch/*=ignore", "*=review"])
    assert action_for("renders/ae/SEQ01/UNDLM_00042_v001.mov", rules) == "ae_completed"
    assert action_for("scratch/x.mov", rules) == "ignore"
    assert action_for("review/UNDLM_00042_v001.mov", rules) == "review"
    assert action_for("anything.mov", []) == "review"
    for bad in ("renders/ae", "=review", "*=publish"):
        with pytest.raises(RuleError):
            parse_rules([bad])


@pytest.fixture
def undlm(db):
    project = make_project(code="UNDLM")
    scene = make_scene(project, "REVEIL", number=1)
    make_scene(project, "CAFE", number=2)
    return make_shot(project, scene=scene, shot_number="042", nomenclature="UNDLM_00042", duration=50)


def test_resolve_to_a_shot(undlm):
    assert resolve_name("UNDLM_SEQ01_00042_v002.mov", DEFAULT).shot == undlm
    assert resolve_name("UNDLM_00042_v002.mov", DEFAULT).shot == undlm


@pytest.mark.parametrize(
    ("name", "problem", "suggestion"),
    [
        ("UNDLM_00043_v001.mov", "no shot UNDLM_00043 in project UNDLM", "UNDLM_00042"),
        ("UNDLM_0042_v001.mov", "no shot UNDLM_0042", "UNDLM_00042"),
        ("UNDLM_SEQ02_00042_v001.mov", "the name says scene 02 but UNDLM_00042 is in scene 01 (REVEIL)", None),
        ("XYZ_00042_v001.mov", "no project 'XYZ' (projects: UNDLM)", None),
        ("UNDLM_00042.mov", "matches no naming template", None),
        ("UNDLM_00042_v123456789012345678901234.mov", "version 123456789012345678901234 is out of range", None),
    ],
)
def test_unresolved_names_say_why(undlm, name, problem, suggestion):
    resolution = resolve_name(name, DEFAULT)
    assert resolution.shot is None
    assert problem in resolution.problem
    if suggestion:
        assert resolution.suggestions[0] == suggestion


def test_project_templates_restrict_its_names(undlm):
    undlm.project.naming_templates = ["{project}_{shot}_v{version}"]
    undlm.project.save()
    assert resolve_name("UNDLM_00042_v001.mov", DEFAULT).shot == undlm
    assert "names renders" in resolve_name("UNDLM_SEQ01_00042_v001.mov", DEFAULT).problem


def test_omitted_shots_take_no_renders(undlm):
    undlm.omitted = True
    undlm.save()
    assert resolve_name("UNDLM_00042_v001.mov", DEFAULT).shot is None


def test_nomenclature_command(undlm):
    out = StringIO()
    call_command("nomenclature", "UNDLM_SEQ01_00042_v002.mp4", stdout=out)
    assert "project UNDLM · scene 01 · shot 00042 · version 2" in out.getvalue()
    assert "→ shot UNDLM_00042" in out.getvalue()
    with pytest.raises(CommandError, match="no shot UNDLM_0042 in project UNDLM; did you mean UNDLM_00042"):
        call_command("nomenclature", "UNDLM_0042_v002.mov", stdout=StringIO())


def test_nomenclature_command_says_a_version_is_out_of_range(undlm):
    with pytest.raises(CommandError, match=r"version 99999999999999999999 is out of range \(1–99,999\)"):
        call_command("nomenclature", "UNDLM_00042_v99999999999999999999.mov", stdout=StringIO())
