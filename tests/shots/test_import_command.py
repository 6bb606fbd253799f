import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from shots.models import Project, Shot
from tests.shots.csvfiles import FRENCH_HEADER, row, write_csv

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def import_json(*args) -> dict:
    out = _call(*args, "--json")
    return json.loads(out)


def _call(*args) -> str:
    from io import StringIO

    stdout = StringIO()
    call_command("import_shots", *map(str, args), stdout=stdout)
    return stdout.getvalue()


def test_json_report_has_the_documented_keys_and_figures(samples_dir):
    report = import_json(samples_dir / "shots.csv", "--edl", samples_dir / "timeline.edl")
    for key in (
        "created",
        "updated",
        "unchanged",
        "omitted",
        "invalid",
        "shots",
        "scenes",
        "unique_sources",
        "shots_sharing_source",
        "missing_nomenclature",
        "conform",
        "applied",
    ):
        assert key in report
    assert (report["created"], report["shots"], report["scenes"]) == (516, 516, 25)
    assert (report["unique_sources"], report["shots_sharing_source"], report["missing_nomenclature"]) == (299, 319, 4)
    assert report["conform"] == [] and report["edl_events"] == 516
    assert report["applied"] is True


def test_human_report(samples_dir):
    out = _call(samples_dir / "shots.csv", "--edl", samples_dir / "timeline.edl", "--dry-run")
    assert "Plan: 516 to create, 0 to update, 0 unchanged, 0 to flag omitted" in out
    assert "scenes 25 · unique sources 299 · shots sharing a source 319 · missing nomenclature 4" in out
    assert "Conform: 516 EDL events, 0 mismatch(es)" in out
    assert "Dry run: nothing was written." in out
    assert Shot.objects.count() == 0


def test_conform_reports_each_kind_of_mismatch(samples_dir, tmp_path):
    # Shot 002 one frame longer in the sheet than in the cut.
    sheet = (samples_dir / "shots.csv").read_text()
    sheet = sheet.replace("00:00:07:12,00:00:13:03,00:00:05:16", "00:00:07:12,00:00:13:04,00:00:05:17", 1)
    csv_path = tmp_path / "shots.csv"
    csv_path.write_text(sheet)
    # Event 3's LOC and clip renamed: no shot for it, and shot 003 loses its event. An
    # extra event appended at the end.
    edl = (samples_dir / "timeline.edl").read_text()
    edl = edl.replace("YELLOW  UNDLM_00003", "YELLOW  UNDLM_09999").replace(
        "CLIP NAME: B_0003C167X250402_154931G6_UNDLM.mov", "CLIP NAME: OTHER.mov"
    )
    edl += (
        "\n517  0009C999 V     C        00:00:00:00 00:00:01:00 00:56:19:09 00:56:20:09\n* FROM CLIP NAME: EXTRA.mov\n"
    )
    path = tmp_path / "cut.edl"
    path.write_text(edl)
    report = import_json(csv_path, "--edl", path, "--dry-run")
    kinds = sorted((m["kind"], m["shot_number"], m["event"]) for m in report["conform"])
    assert kinds == [
        ("event_without_shot", "", 3),
        ("event_without_shot", "", 517),
        ("record_mismatch", "002", 2),
        ("shot_without_event", "003", None),
    ]
    retimed = next(m for m in report["conform"] if m["kind"] == "record_mismatch")
    assert retimed["detail"] == (
        "shot 002: sheet says 00:00:07:12–00:00:13:04, EDL event 2 says 00:00:07:12–00:00:13:03"
    )


def test_missing_nomenclature_shots_match_by_clip_and_record_in(samples_dir):
    report = import_json(samples_dir / "shots.csv", "--edl", samples_dir / "timeline.edl", "--dry-run")
    assert report["missing_nomenclature"] == 4 and report["conform"] == []


def test_french_excel_export_with_columns_override(tmp_path):
    header = [*FRENCH_HEADER[:-1], "Remarque du monteur"]
    path = write_csv(
        tmp_path / "plans.csv", [row(1, notes="à revoir")], header=header, delimiter=";", encoding="cp1252"
    )
    mapping = tmp_path / "columns.json"
    mapping.write_text(json.dumps({"notes": "Remarque du monteur"}))
    report = import_json(path, "--columns", mapping)
    assert report["columns"]["notes"] == "Remarque du monteur"
    assert Shot.objects.get().notes == "à revoir"


def test_invalid_rows_refuse_the_import_with_json_still_printed(tmp_path, capsys):
    path = write_csv(tmp_path / "bad.csv", [row(1), row(2, start=2, timeline_in="nope")])
    from io import StringIO

    stdout = StringIO()
    with pytest.raises(CommandError, match=r"nothing was written.*--skip-invalid"):
        call_command("import_shots", str(path), "--json", stdout=stdout)
    report = json.loads(stdout.getvalue())
    assert report["applied"] is False
    assert report["invalid"] == [
        {
            "line": 3,
            "column": "TIMELINE_IN",
            "value": "nope",
            "reason": "bad timecode: not a timecode in HH:MM:SS:FF form",
        }
    ]
    assert Shot.objects.count() == 0


def test_fps_must_match_the_project(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1)])
    _call(path)
    with pytest.raises(CommandError, match="project UNDLM is at 25 fps; --fps 24 does not match"):
        _call(path, "--fps", "24")
    with pytest.raises(CommandError, match="--fps: 'fast' is not a frame rate"):
        _call(path, "--fps", "fast")


def test_new_project_at_23976(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1, timeline_out="00:00:02:23", duration="00:00:02:23")])
    _call(path, "--fps", "23.976", "--project", "DOC2")
    project = Project.objects.get(code="DOC2")
    assert project.fps == pytest.approx(24000 / 1001)
    assert Shot.objects.get(project=project).duration == 71


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "cannot read missing.csv"),
        (["{csv}", "--edl", "missing.edl"], "missing.edl: no such file"),
        (["{csv}", "--edl", "{bad_edl}"], "bad.edl:"),
        (["{csv}", "--columns", "{bad_json}"], "is not JSON"),
        (["{no_scene}"], "no column for required field(s) scene; headers seen"),
    ],
)
def test_bad_input_is_a_message_not_a_traceback(tmp_path, args, message):
    files = {
        "csv": write_csv(tmp_path / "s.csv", [row(1)]),
        "bad_edl": tmp_path / "bad.edl",
        "bad_json": tmp_path / "bad.json",
        "no_scene": tmp_path / "no_scene.csv",
    }
    files["bad_edl"].write_text("TITLE: X\n001  AX V C 00:00:00:99 00:00:01:00 00:00:00:00 00:00:01:00\n")
    files["bad_json"].write_text("{nope")
    files["no_scene"].write_text("Plan,Notes\n1,x\n")
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _call(*(arg.format(**files) for arg in args))


def test_exit_status_from_a_real_process(tmp_path):
    """The command-line contract: message on stderr, status 1, no traceback, nothing written."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "POSTFLOW_VAR_DIR": str(tmp_path)}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    bad = write_csv(tmp_path / "bad.csv", [row(1), row(2, start=2, duration="00:00:09:00")])
    result = subprocess.run([*manage, "import_shots", str(bad)], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "line 3, column 'DURATION', value '00:00:09:00'" in result.stdout
    assert "CommandError: 1 problem(s) in the sheet; nothing was written" in result.stderr
    good = write_csv(tmp_path / "good.csv", [row(1)])
    result = subprocess.run([*manage, "import_shots", str(good)], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Applied." in result.stdout


@pytest.mark.parametrize("code", ["P" * 33, "UND\x00LM", ""])
def test_a_project_code_the_column_cannot_hold_is_refused(tmp_path, code):
    path = write_csv(tmp_path / "s.csv", [row(1)])
    with pytest.raises(CommandError, match="--project: "):
        _call(path, "--project", code)
    assert Project.objects.count() == 0
