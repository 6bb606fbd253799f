import json

import pytest

from shots.importer import ImportRefused, import_shot_list
from shots.models import Project, Scene, Shot, ShotEvent, SourceFile
from shots.sheet import read_sheet
from shots.workflow import Status
from tests.shots.csvfiles import row, write_csv

pytestmark = pytest.mark.django_db


def run(path, **kwargs):
    kwargs.setdefault("project_code", "UNDLM")
    kwargs.setdefault("project_name", "UNDLM Documentary")
    kwargs.setdefault("rate", 25.0)
    return import_shot_list(sheet=read_sheet(path), **kwargs)


def test_reference_sample_gives_the_documented_figures(samples_dir):
    facts = json.loads((samples_dir / "facts.json").read_text())
    report = run(samples_dir / "shots.csv")
    assert report.applied
    assert (report.shots, report.scenes, report.unique_sources) == (
        facts["shots"],
        facts["scenes"],
        facts["unique_sources"],
    )
    assert report.shots_sharing_source == facts["shots_sharing_source"]
    assert report.missing_nomenclature == facts["missing_nomenclature"]
    assert report.missing_nomenclature_lines == [64, 303, 315, 351]
    assert report.invalid == []
    assert Shot.objects.count() == facts["shots"]
    assert Scene.objects.count() == facts["scenes"]
    assert SourceFile.objects.count() == facts["unique_sources"]
    assert ShotEvent.objects.filter(kind=ShotEvent.Kind.CREATED).count() == facts["shots"]
    first = Shot.objects.select_related("scene", "source_file", "project").get(shot_number="001")
    assert (first.nomenclature, first.scene.name, first.scene.number) == ("UNDLM_00001", "REVEIL HOPITAL - JOUR", 1)
    assert (first.timeline_in, first.timeline_out, first.duration) == (0, 187, 187)
    assert first.timecode("source_in") == "00:50:45:15"
    assert first.status == Status.PENDING
    assert Project.objects.get().fps == 25


def test_reimport_unchanged_writes_nothing(samples_dir):
    run(samples_dir / "shots.csv")
    events = ShotEvent.objects.count()
    report = run(samples_dir / "shots.csv")
    assert (report.created, report.updated, report.unchanged, report.omitted) == (0, 0, 516, 0)
    assert ShotEvent.objects.count() == events


def test_reimport_shows_changed_fields_and_flags_vanished_shots(tmp_path):
    path = tmp_path / "v1.csv"
    write_csv(path, [row(1), row(2, start=2), row(3, start=4)])
    run(path)
    shot2 = Shot.objects.get(shot_number="002")
    shot2.status = Status.AE_IN_PROGRESS
    shot2.save()
    write_csv(path, [row(1, notes="retirer perche"), row(3, start=4, scene="SCENE B"), row(4, start=6)])
    report = run(path)
    assert (report.created, report.updated, report.unchanged, report.omitted) == (1, 2, 0, 1)
    updated = {item["shot_number"]: item["fields"] for item in report.changes["updated"]}
    assert updated == {"001": {"notes": ("", "retirer perche")}, "003": {"scene": ("SCENE A", "SCENE B")}}
    assert report.changes["omitted"] == ["002"]
    shot2.refresh_from_db()
    assert shot2.omitted and shot2.status == Status.AE_IN_PROGRESS  # kept, never deleted
    assert Scene.objects.get(name="SCENE B").number == 2
    event = ShotEvent.objects.get(shot__shot_number="003", kind=ShotEvent.Kind.UPDATED)
    assert event.details["changes"] == {"scene": ["SCENE A", "SCENE B"]}
    assert ShotEvent.objects.filter(shot=shot2, kind=ShotEvent.Kind.OMITTED).count() == 1
    # Still absent: not flagged again. Back in the list: restored.
    assert run(path).omitted == 0
    write_csv(
        path, [row(1, notes="retirer perche"), row(2, start=2), row(3, start=4, scene="SCENE B"), row(4, start=6)]
    )
    report = run(path)
    assert report.updated == 1
    shot2.refresh_from_db()
    assert not shot2.omitted
    assert ShotEvent.objects.filter(shot=shot2, kind=ShotEvent.Kind.RESTORED).count() == 1


def test_timecode_change_is_reported_as_timecodes(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1)])
    run(path)
    write_csv(path, [row(1, timeline_out="00:00:02:10", duration="00:00:02:10")])
    report = run(path)
    assert report.changes["updated"][0]["fields"] == {
        "timeline_out": ("00:00:02:00", "00:00:02:10"),
        "duration": ("00:00:02:00", "00:00:02:10"),
    }


def test_nomenclatures_can_swap_between_shots(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1), row(2, start=2)])
    run(path)
    write_csv(path, [row(1, nomenclature="UNDLM_00002"), row(2, start=2, nomenclature="UNDLM_00001")])
    assert run(path).updated == 2
    assert Shot.objects.get(shot_number="001").nomenclature == "UNDLM_00002"


def test_a_new_shot_can_take_the_name_a_renamed_shot_gives_up(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1)])
    run(path)
    write_csv(path, [row(1, nomenclature="UNDLM_00101"), row(2, start=2, nomenclature="UNDLM_00001")])
    report = run(path)
    assert (report.created, report.updated) == (1, 1)
    names = dict(Shot.objects.values_list("shot_number", "nomenclature"))
    assert names == {"001": "UNDLM_00101", "002": "UNDLM_00001"}


def test_nomenclature_held_by_an_omitted_shot_is_invalid_not_a_crash(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1), row(2, start=2)])
    run(path)
    write_csv(path, [row(1), row(3, start=2, nomenclature="UNDLM_00002")])
    with pytest.raises(ImportRefused) as refused:
        run(path)
    [problem] = refused.value.report.invalid
    assert problem["line"] == 3 and "held by shot 002" in problem["reason"]


INVALID_CASES = [
    (dict(timeline_in="00:00:00:25"), "TIMELINE_IN", "frame 25 does not exist"),
    (dict(source_out="1:00:02:00"), "SOURCE_OUT", "hours '1' is not two digits"),
    (dict(timeline_out="00:00:00:00", duration="00:00:00:00"), "TIMELINE_OUT", "not after timeline_in"),
    (dict(source_out="00:59:59:00"), "SOURCE_OUT", "not after source_in"),
    (dict(duration="00:00:03:00"), "DURATION", "75 frames but timeline_out - timeline_in is 50"),
    (dict(scene=""), "SCENE", "scene is required"),
    (dict(shot_number=""), "SHOT_NUMBER", "shot_number is required"),
    (dict(nomenclature="undlm-2"), "NOMENCLATURE", "does not match the naming rule"),
    (dict(nomenclature="UNDLM_00001"), "NOMENCLATURE", "already used by shot 001 on line 2"),
    (dict(shot_number="001", nomenclature="UNDLM_00099"), "SHOT_NUMBER", "shot number 001 is already on line 2"),
]


@pytest.mark.parametrize(("override", "column", "reason"), INVALID_CASES)
def test_each_invalid_row_names_line_column_value_and_writes_nothing(tmp_path, override, column, reason):
    path = write_csv(tmp_path / "bad.csv", [row(1), row(2, start=2, **override), row(3, start=4)])
    with pytest.raises(ImportRefused) as refused:
        run(path)
    report = refused.value.report
    assert not report.applied
    [problem] = report.invalid
    assert problem["line"] == 3
    assert problem["column"] == column
    assert problem["value"] == override[column.lower()]
    assert reason in problem["reason"]
    assert Shot.objects.count() == 0 and Project.objects.count() == 0


def test_invalid_value_is_reported_verbatim(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [row(1, timeline_in="00:00:00:99")])
    with pytest.raises(ImportRefused) as refused:
        run(path)
    assert refused.value.report.invalid[0]["value"] == "00:00:00:99"


def test_skip_invalid_writes_the_valid_rows_and_does_not_omit_the_invalid_ones(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1), row(2, start=2)])
    run(path)
    write_csv(path, [row(1, notes="ok"), row(2, start=2, timeline_in="bad"), row(3, start=4)])
    report = run(path, skip_invalid=True)
    assert report.applied
    assert (report.created, report.updated, report.omitted, len(report.invalid)) == (1, 1, 0, 1)
    assert not Shot.objects.get(shot_number="002").omitted


def test_dry_run_writes_nothing_but_shows_the_plan(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1), row(2, start=2)])
    report = run(path, dry_run=True)
    assert not report.applied
    assert report.created == 2
    assert Shot.objects.count() == 0 and Project.objects.count() == 0
    # Invalid rows in a dry run: reported, no exception, nothing written.
    write_csv(path, [row(1), row(2, start=2, duration="x")])
    report = run(path, dry_run=True)
    assert len(report.invalid) == 1 and not report.applied


def test_missing_nomenclature_is_flagged_not_an_error(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1), row(2, start=2, nomenclature="")])
    report = run(path)
    assert report.missing_nomenclature == 1 and report.missing_nomenclature_lines == [3]
    assert Shot.objects.filter(nomenclature="").count() == 1


def test_duration_derived_when_absent_and_accepted_as_frame_count(tmp_path):
    path = write_csv(tmp_path / "s.csv", [row(1, duration=""), row(2, start=2, duration="50")])
    run(path)
    assert list(Shot.objects.values_list("duration", flat=True)) == [50, 50]


def test_formula_looking_cells_are_stored_as_text(tmp_path):
    formula = '=HYPERLINK("http://evil.example","x")'
    path = write_csv(tmp_path / "s.csv", [row(1, notes=formula, scene="+SCENE")])
    run(path)
    shot = Shot.objects.select_related("scene").get()
    assert (shot.notes, shot.scene.name) == (formula, "+SCENE")


def test_shots_sharing_a_source(tmp_path):
    rows = [
        row(1, source="A.mov"),
        row(2, start=2, source="A.mov"),
        row(3, start=4, source="B.mov"),
        row(4, start=6, source_file=""),
    ]
    report = run(write_csv(tmp_path / "s.csv", rows))
    assert (report.unique_sources, report.shots_sharing_source) == (2, 2)
    assert Shot.objects.get(shot_number="004").source_file is None


def test_generated_sheet_imports_across_bulk_batches_and_reimports_unchanged(tmp_path):
    """The benchmark's generator at a size that spans several bulk batches (see bench/)."""
    from bench.sheetgen import write_sheet

    path = write_sheet(tmp_path / "big.csv", 1_234)
    first = run(path)
    assert (first.created, first.invalid, first.shots) == (1_234, [], 1_234)
    assert Shot.objects.count() == 1_234
    assert ShotEvent.objects.count() == 1_234
    assert first.scenes == Scene.objects.count() == 62
    second = run(path)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 1_234)


def test_an_import_that_changed_shots_publishes_one_live_event(tmp_path, django_capture_on_commit_callbacks):
    from postflow.models import LiveEvent

    path = tmp_path / "v1.csv"
    write_csv(path, [row(1), row(2, start=2)])
    with django_capture_on_commit_callbacks(execute=True):
        run(path, actor="user:ada")
    write_csv(path, [row(1, notes="retirer perche"), row(3, start=4)])
    with django_capture_on_commit_callbacks(execute=True):
        run(path)  # 1 created, 1 updated, 1 omitted
        run(path)  # unchanged: nothing to tell
        run(path, dry_run=True)
    project = Project.objects.get()
    assert [(e.kind, e.payload) for e in LiveEvent.objects.order_by("id")] == [
        (
            "shots.imported",
            {"project_id": project.pk, "project": "UNDLM", "actor": "user:ada", "created": 2, "updated": 0}
            | {"omitted": 0, "restored": 0},
        ),
        (
            "shots.imported",
            {"project_id": project.pk, "project": "UNDLM", "actor": "import", "created": 1, "updated": 1}
            | {"omitted": 1, "restored": 0},
        ),
    ]


def test_field_bounds_are_the_model_fields_max_length():
    from shots.importer import FIELD_MAX_LENGTH

    assert FIELD_MAX_LENGTH["shot_number"] == Shot._meta.get_field("shot_number").max_length
    assert FIELD_MAX_LENGTH["nomenclature"] == Shot._meta.get_field("nomenclature").max_length
    assert FIELD_MAX_LENGTH["scene"] == Scene._meta.get_field("name").max_length
    assert FIELD_MAX_LENGTH["source_file"] == SourceFile._meta.get_field("name").max_length


def test_an_over_long_field_is_reported_with_line_and_column_and_quoted_short(tmp_path):
    path = write_csv(tmp_path / "long.csv", [row(1), row(2, start=2, shot_number="9" * 5000), row(3, scene="S" * 1000)])
    with pytest.raises(ImportRefused) as refused:
        run(path)
    problems = [(p["line"], p["column"], p["reason"]) for p in refused.value.report.invalid]
    assert problems == [
        (3, "SHOT_NUMBER", "is 5,000 characters long; at most 32 fit"),
        (4, "SCENE", "is 1,000 characters long; at most 200 fit"),
    ]
    assert all(len(p["value"]) < 250 for p in refused.value.report.invalid)
    assert Shot.objects.count() == 0 and Scene.objects.count() == 0 and Project.objects.count() == 0


@pytest.mark.parametrize(
    ("override", "column", "reason"),
    [
        (dict(scene="SCENE\x00A"), "SCENE", "a control character (U+0000) at character 6"),
        (dict(nomenclature="UNDLM_\x1b[31m"), "NOMENCLATURE", "a control character (U+001B) at character 7"),
        (dict(source_file="a\tb.mov"), "SOURCE_FILE", "a control character (U+0009) at character 2"),
        (dict(notes="ok\x00"), "NOTES", "a control character (U+0000) at character 3"),
        (dict(duration="9" * 12), "DURATION", "is 12 characters long; at most 11 fit"),
        (dict(duration="99999999", timeline_in="", timeline_out=""), "DURATION", "more than 24 hours"),
        (dict(duration="5²"), "DURATION", "bad timecode"),  # isdigit() says yes, int() raises
    ],
)
def test_control_characters_and_impossible_values_are_refused_with_the_column(tmp_path, override, column, reason):
    path = write_csv(tmp_path / "ctl.csv", [row(1, **override)])
    with pytest.raises(ImportRefused) as refused:
        run(path)
    [problem] = refused.value.report.invalid
    assert (problem["line"], problem["column"]) == (2, column)
    assert reason in problem["reason"]
    assert Shot.objects.count() == 0 and Project.objects.count() == 0


def test_notes_keep_their_line_breaks_and_tabs(tmp_path):
    path = write_csv(tmp_path / "notes.csv", [row(1, notes="one\r\ntwo\tthree")])
    run(path)
    assert Shot.objects.get().notes == "one\r\ntwo\tthree"
