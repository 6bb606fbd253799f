"""Exports: golden files per format, formula neutralisation, safe scene file names, the command.

Golden files live in tests/shots/golden/. After an intended format change, regenerate them with
`UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/shots/test_exports.py` and review the diff.
"""

import csv
import io
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from postflow.lib.csv_safe import neutralise, render_csv
from shots import exports
from shots.exports import ExportFile, ExportFormat, export_shots, shots_for_export, write_files
from shots.models import Project, Shot, ShotEvent
from shots.services import shot_force_status, shot_transition
from shots.workflow import Status
from tests.factories import make_project, make_scene, make_shot, make_source

GOLDEN = Path(__file__).resolve().parent / "golden"
FIXED = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)

FORMULA_NOTES = {
    "001": '=HYPERLINK("http://x")',
    "002": "+1",
    "003": "-cmd",
    "004": "@SUM(A1)",
    "005": "\t=1+1",
    "006": "\r=1+1",
    "008": "-12",
}
SINGLE_FILE_FORMATS = [f for f in ExportFormat if not f.is_multi_file]
SCENE_FILE_NAME = re.compile(r"^scene_\d{3}_[a-z0-9][a-z0-9_-]*\.json$")


def tc(seconds: int, frames: int = 0, fps: int = 25) -> int:
    return seconds * fps + frames


@pytest.fixture
def film(db) -> Project:
    """Eight shots in three scenes: a shared source, an omitted shot, formula-looking notes.

    Cut order (record in) differs from shot-number order for 002/003; 007 is not in the cut yet. Source C is used by the
    live shot 006 and the omitted shot 005 only, so 006 is not a duplicate.
    """
    project = make_project(code="TST", name="Le Film", fps=25.0)
    day = make_scene(project, "RÉVEIL HÔPITAL - JOUR")
    etc = make_scene(project, "../../etc")
    night = make_scene(project, "NUIT / EXT")
    a, b, c = (make_source(project, name) for name in ("A_0002C108.mov", "B_0003C167.mov", "C_0001C001.mov"))
    evil = make_source(project, "@evil.mov")
    rows = [
        # number, scene, source, status, timeline in/out (frames), extra fields
        ("001", day, a, Status.PENDING, (0, tc(7, 12)), {}),
        ("002", day, b, Status.REVIEW_APPROVED, (tc(13, 3), tc(19, 4)), {}),
        ("003", day, a, Status.FINAL_DELIVERY, (tc(7, 12), tc(13, 3)), {"source_in": tc(3045, 15)}),
        ("004", etc, evil, Status.REVIEW_UPLOADED, (tc(19, 4), tc(30, 20)), {"nomenclature": ""}),
        ("005", etc, c, Status.PENDING, (tc(30, 20), tc(31)), {"omitted": True}),
        ("006", night, c, Status.AE_IN_PROGRESS, (tc(31), tc(40)), {"source_out": tc(60)}),
        ("007", night, None, Status.EBSYNTH_READY, (None, None), {"notes": 'plain, "quoted"\nsecond line'}),
        ("008", night, None, Status.REVISION_REQUESTED, (tc(40), tc(41)), {}),
    ]
    for number, scene, source, status, (start, end), extra in rows:
        extra.setdefault("notes", FORMULA_NOTES.get(number, ""))
        extra.setdefault("nomenclature", f"TST_{int(number):05d}")
        duration = None if start is None else end - start
        make_shot(
            project,
            scene=scene,
            shot_number=number,
            source=source,
            status=status,
            timeline_in=start,
            timeline_out=end,
            duration=duration,
            **extra,
        )
    _history(project)
    return project


def _history(project: Project) -> None:
    """A few real events, then every timestamp pinned so that the golden files are stable."""
    shot = {s.shot_number: s for s in project.shots.all()}
    shot_transition(shot_id=shot["001"].pk, to_status=Status.SOURCES_VERIFIED, actor="user:alice")
    shot_transition(
        shot_id=shot["004"].pk,
        to_status=Status.REVISION_REQUESTED,
        actor="frameio",
        reason="sky too bright",
        details={"comment_id": "c-12"},
    )
    shot_force_status(shot_id=shot["004"].pk, to_status=Status.REVIEW_UPLOADED, actor="user:bob", reason="re-upload")
    for minute, event in enumerate(ShotEvent.objects.filter(shot__project=project).order_by("id")):
        ShotEvent.objects.filter(pk=event.pk).update(created_at=FIXED + timedelta(minutes=minute))
    project.shots.update(created_at=FIXED, updated_at=FIXED + timedelta(hours=1))


def assert_golden(name: str, content: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 to create it"
    # Compare text first for a readable diff, then bytes for BOM and line ends.
    assert content.decode("utf-8") == path.read_bytes().decode("utf-8")
    assert content == path.read_bytes()


def read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")))


def export_one(project: Project, fmt: ExportFormat, *, include_omitted: bool = False) -> ExportFile:
    [only] = export_shots(project, shots_for_export(project, include_omitted=include_omitted), fmt)
    return only


# --- golden files ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", SINGLE_FILE_FORMATS, ids=str)
def test_single_file_formats_match_golden(film: Project, fmt: ExportFormat) -> None:
    export = export_one(film, fmt)
    assert_golden(export.name, export.content)


def test_scene_json_matches_golden(film: Project) -> None:
    files = export_shots(film, shots_for_export(film), ExportFormat.SCENE_JSON)
    names = [f.name for f in files]
    assert names == ["scene_001_reveil-hopital-jour.json", "scene_002_etc.json", "scene_003_nuit-ext.json"]
    for export in files:
        assert_golden(f"scene-json/{export.name}", export.content)
    if not os.environ.get("UPDATE_GOLDEN"):
        assert sorted(p.name for p in (GOLDEN / "scene-json").iterdir()) == sorted(names)


def test_exports_are_deterministic(film: Project) -> None:
    for fmt in ExportFormat:
        first = export_shots(film, shots_for_export(film), fmt)
        assert export_shots(film, shots_for_export(film), fmt) == first


# --- production CSV rules ----------------------------------------------------------------


def test_production_csv_columns_order_and_flags(film: Project) -> None:
    export = export_one(film, ExportFormat.PRODUCTION_CSV)
    assert export.content.startswith(b"\xef\xbb\xbfNOMENCLATURE,SHOT_NUMBER,SCENE,TIMELINE_IN,")
    rows = read_csv(export.content)
    assert list(rows[0]) == list(exports.PRODUCTION_CSV_HEADER)
    # Cut order, the omitted shot 005 left out.
    assert [r["SHOT_NUMBER"] for r in rows] == [
        "001",
        "003",
        "002",
        "004",
        "006",
        "008",
        "007",
    ]  # 007 is not in the cut yet: last
    flags = {r["SHOT_NUMBER"]: (r["IS_DUPLICATE"], r["READY_FOR_EDIT"]) for r in rows}
    assert flags == {
        "001": ("TRUE", "FALSE"),
        "003": ("TRUE", "TRUE"),  # shares A with 001; final_delivery
        "002": ("FALSE", "TRUE"),  # review_approved
        "004": ("FALSE", "FALSE"),
        "006": ("FALSE", "FALSE"),  # C is shared only with the omitted 005
        "007": ("FALSE", "FALSE"),  # no source at all
        "008": ("FALSE", "FALSE"),
    }
    first = rows[0]
    assert (first["TIMELINE_IN"], first["TIMELINE_OUT"], first["DURATION"]) == (
        "00:00:00:00",
        "00:00:07:12",
        "00:00:07:12",
    )
    assert rows[1]["SCENE"] == "RÉVEIL HÔPITAL - JOUR"


def test_include_omitted_adds_the_omitted_shot(film: Project) -> None:
    rows = read_csv(export_one(film, ExportFormat.PRODUCTION_CSV, include_omitted=True).content)
    by_number = {r["SHOT_NUMBER"]: r for r in rows}
    assert list(by_number) == ["001", "003", "002", "004", "005", "006", "008", "007"]
    # 005 is cut from C, which the live shot 006 uses; 006 stays unique within the cut.
    assert (by_number["005"]["IS_DUPLICATE"], by_number["006"]["IS_DUPLICATE"]) == ("TRUE", "FALSE")


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_ready_for_edit_only_after_approval(db, status: Status) -> None:
    shot = make_shot(status=status)
    [row] = read_csv(export_one(shot.project, ExportFormat.PRODUCTION_CSV).content)
    expected = status in (Status.REVIEW_APPROVED, Status.FINAL_DELIVERY)
    assert row["READY_FOR_EDIT"] == ("TRUE" if expected else "FALSE")


def test_a_source_shared_in_another_project_is_not_a_duplicate(db) -> None:
    mine, theirs = make_project(code="MINE"), make_project(code="THEIRS")
    make_shot(mine, source=make_source(mine, "same.mov"))
    make_shot(theirs, source=make_source(theirs, "same.mov"))
    [row] = read_csv(export_one(mine, ExportFormat.PRODUCTION_CSV).content)
    assert row["IS_DUPLICATE"] == "FALSE"


def test_shots_of_another_project_are_never_exported(film: Project) -> None:
    other = make_project(code="OTHER")
    make_shot(other, shot_number="999")
    rows = read_csv(exports.production_csv(film, Shot.objects.all()))
    assert "999" not in {r["SHOT_NUMBER"] for r in rows}


# --- formula neutralisation -------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    ["=1+1", "==1+1", '=HYPERLINK("http://x")', "+1", "-1+1", "-cmd", "-12", "@SUM(A1)", "\t=1", "\r=1", "\0=1"],
)
def test_formula_payloads_are_quoted(payload: str) -> None:
    assert neutralise(payload) == "'" + payload


@pytest.mark.parametrize("value", ["", "plain", "1+1", " =1+1", "A=1", "'already", 12, -3, 1.5, None])
def test_other_cells_are_left_alone(value: object) -> None:
    assert neutralise(value) == value


def test_render_csv_neutralises_every_column_and_round_trips() -> None:
    text = render_csv(["A", "B"], [["=x", 'quote " and, comma'], [-3, "line\r\nbreak"]])
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["A", "B"],
        ["'=x", 'quote " and, comma'],
        ["-3", "line\r\nbreak"],
    ]


@pytest.mark.parametrize("fmt", [ExportFormat.PRODUCTION_CSV, ExportFormat.FLAT_CSV], ids=str)
def test_no_csv_cell_can_run_as_a_formula(film: Project, fmt: ExportFormat) -> None:
    content = export_one(film, fmt, include_omitted=True).content
    cells = [cell for row in csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")) for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r", "\0"))]
    assert "'@evil.mov" in cells
    if fmt is ExportFormat.FLAT_CSV:
        notes = {row["SHOT_NUMBER"]: row["NOTES"] for row in read_csv(content)}
        assert {number: notes[number] for number in FORMULA_NOTES} == {
            number: "'" + note for number, note in FORMULA_NOTES.items()
        }
        assert notes["007"] == 'plain, "quoted"\nsecond line'


def test_json_exports_keep_notes_verbatim(film: Project) -> None:
    data = json.loads(export_one(film, ExportFormat.DETAILED_JSON).content)
    notes = {shot["shot_number"]: shot["notes"] for shot in data["shots"]}
    assert notes["001"] == '=HYPERLINK("http://x")'


# --- JSON contents ----------------------------------------------------------------------------


def test_ae_json_shape(film: Project) -> None:
    data = json.loads(export_one(film, ExportFormat.AE_JSON).content)
    assert data["project"] == {"code": "TST", "name": "Le Film", "fps": 25.0}
    assert list(data["shots"][0]) == [
        "nomenclature",
        "shot_number",
        "scene",
        "source_file",
        "timeline_in",
        "timeline_out",
        "duration",
    ]
    assert data["shots"][1] == {
        "nomenclature": "TST_00003",
        "shot_number": "003",
        "scene": "RÉVEIL HÔPITAL - JOUR",
        "source_file": "A_0002C108.mov",
        "timeline_in": "00:00:07:12",
        "timeline_out": "00:00:13:03",
        "duration": "00:00:05:16",
    }


def test_detailed_json_has_history_oldest_first(film: Project) -> None:
    data = json.loads(export_one(film, ExportFormat.DETAILED_JSON).content)
    shot = next(s for s in data["shots"] if s["shot_number"] == "004")
    assert [(e["kind"], e["from_status"], e["to_status"], e["actor"]) for e in shot["events"]] == [
        ("transition", "review_uploaded", "revision_requested", "frameio"),
        ("override", "revision_requested", "review_uploaded", "user:bob"),
    ]
    assert shot["events"][0]["details"] == {"comment_id": "c-12"}
    assert (shot["scene"], shot["is_duplicate"], shot["nomenclature"]) == (
        {"number": 2, "name": "../../etc"},
        False,
        "",
    )


# --- file names and writing ------------------------------------------------------------------


def test_scene_files_stay_inside_the_output_directory(film: Project, tmp_path: Path) -> None:
    make_scene(film, "///")  # nothing sluggable
    make_shot(film, scene=film.scenes.get(name="///"), shot_number="009")
    out = tmp_path / "deep" / "out"
    call_command("export_shots", "--format", "scene-json", "--out", str(out), stdout=io.StringIO())
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "deep/out/scene_001_reveil-hopital-jour.json",
        "deep/out/scene_002_etc.json",
        "deep/out/scene_003_nuit-ext.json",
        "deep/out/scene_004_scene.json",
    ]
    assert all(SCENE_FILE_NAME.match(Path(name).name) for name in written)


@pytest.mark.parametrize("name", ["../x.json", "/etc/passwd", ".hidden", "a/b.json", "..", ""])
def test_write_files_refuses_unsafe_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="unsafe export file name"):
        write_files([ExportFile(name=name, content=b"x", content_type="text/plain")], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic_when_the_rename_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "TST_production.csv"
    target.write_bytes(b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports.os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_files([ExportFile(name=target.name, content=b"new", content_type="text/csv")], tmp_path)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# --- the command -----------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("export_shots", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_command_writes_to_stdout_by_default(film: Project) -> None:
    assert run("--format", "production-csv").encode("utf-8") == (GOLDEN / "TST_production.csv").read_bytes()


def test_command_writes_files_into_out(film: Project, tmp_path: Path) -> None:
    for fmt in SINGLE_FILE_FORMATS:
        output = run("--format", fmt.value, "--out", str(tmp_path))
        name = export_one(film, fmt).name
        assert output == f"wrote {tmp_path / name}\n"
        assert (tmp_path / name).read_bytes() == (GOLDEN / name).read_bytes()
    # Run twice: the files are replaced, no temporary file is left behind.
    run("--format", "ae-json", "--out", str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(export_one(film, f).name for f in SINGLE_FILE_FORMATS)


def test_command_include_omitted(film: Project) -> None:
    assert "TST_00005" not in run("--format", "ae-json")
    assert "TST_00005" in run("--format", "ae-json", "--include-omitted")


def test_command_picks_the_configured_project(film: Project, settings) -> None:
    other = make_project(code="OTHER", name="Other film")
    make_shot(other, shot_number="777", nomenclature="OTHER_00777")
    settings.POSTFLOW_PROJECT_CODE = "OTHER"
    assert "OTHER_00777" in run("--format", "ae-json")
    assert "OTHER_00777" not in run("--format", "ae-json", "--project", "TST")


def test_command_uses_the_only_project_whatever_its_code(film: Project, settings) -> None:
    settings.POSTFLOW_PROJECT_CODE = "UNDLM"
    assert json.loads(run("--format", "ae-json"))["project"]["code"] == "TST"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "scene-json"], "pass --out DIR"),
        (["--format", "ae-json", "--project", "NOPE"], "no project 'NOPE'; projects: TST"),
        (["--format", "pdf"], "invalid choice: 'pdf'"),
    ],
)
def test_command_errors(film: Project, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*args)


def test_command_error_without_any_project(db) -> None:
    with pytest.raises(CommandError, match="there is no project yet"):
        run("--format", "ae-json")


def test_command_error_with_several_projects_and_no_default(film: Project, settings) -> None:
    make_project(code="OTHER")
    settings.POSTFLOW_PROJECT_CODE = "UNDLM"
    with pytest.raises(CommandError, match=r"pass --project \(one of OTHER, TST\)"):
        run("--format", "ae-json")


def test_command_error_when_out_is_a_file(film: Project, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(CommandError, match="exists and is not a directory"):
        run("--format", "ae-json", "--out", str(not_a_dir))


def test_scene_files_of_an_older_export_are_reported_not_deleted(film: Project, tmp_path: Path) -> None:
    out = tmp_path / "out"
    call_command("export_shots", "--format", "scene-json", "--out", str(out), stdout=io.StringIO())
    film.scenes.filter(name="NUIT / EXT").update(name="NUIT / INT")  # renamed in the sheet since
    (out / "notes.json").write_text("{}")  # not a scene file: not ours to mention
    errors = io.StringIO()
    call_command("export_shots", "--format", "scene-json", "--out", str(out), stdout=io.StringIO(), stderr=errors)
    stale = out / "scene_003_nuit-ext.json"
    assert errors.getvalue() == f"left from an older export (a scene renamed or gone?), not removed: {stale}\n"
    assert stale.exists() and (out / "scene_003_nuit-int.json").exists()
