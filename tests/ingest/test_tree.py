"""`manage.py shot_tree`: each shot's folders under the mount, on real folders in tmp_path."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ingest.rules import action_for, parse_rules
from ingest.tree import ShotSpec, plan_tree
from postflow.lib.folder_template import parse
from shots.models import Project
from tests.factories import make_project, make_scene, make_shot
from tests.shots.csvfiles import row, write_csv

LEAVES = ("ae", "ebsynth", "ebsynth/keys", "ebsynth/out", "renders")


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    root = tmp_path / "mount"
    root.mkdir()
    return root


@pytest.fixture
def cut(db) -> Project:
    """UNDLM: two shots in scene 1, one in scene 2, and an omitted one."""
    project = make_project(code="UNDLM")
    day, night = make_scene(project, "DAY", number=1), make_scene(project, "NIGHT", number=2)
    make_shot(project, scene=day, shot_number="001", nomenclature="UNDLM_00001")
    make_shot(project, scene=day, shot_number="002", nomenclature="UNDLM_00002")
    make_shot(project, scene=night, shot_number="003", nomenclature="UNDLM_00003")
    make_shot(project, scene=night, shot_number="004", nomenclature="UNDLM_00004", omitted=True)
    return project


def shot_tree(root: Path, *args: str) -> dict:
    out = StringIO()
    call_command("shot_tree", "--root", str(root), "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def shot_tree_failing(root: Path, *args: str) -> tuple[dict, str]:
    """The report of a run with problems (exit status 1), and the error message."""
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("shot_tree", "--root", str(root), "--json", *args, stdout=out)
    return json.loads(out.getvalue()), str(failed.value)


def tree(root: Path) -> set[str]:
    """Every folder under root, relative."""
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_dir() and not path.is_symlink()}


def shot_folders(scene: int, nomenclature: str) -> set[str]:
    base = f"UNDLM/SEQ{scene:02d}/{nomenclature}"
    return {base, *(f"{base}/{leaf}" for leaf in LEAVES)}


EXPECTED = (
    {"UNDLM", "UNDLM/SEQ01", "UNDLM/SEQ02"}
    | shot_folders(1, "UNDLM_00001")
    | shot_folders(1, "UNDLM_00002")
    | shot_folders(2, "UNDLM_00003")
)


def test_a_dry_run_lists_the_folders_and_makes_none(cut, mount):
    out = StringIO()
    call_command("shot_tree", "--root", str(mount), stdout=out)
    text = out.getvalue()
    assert text.splitlines()[0] == (
        f"{mount}: 3 shot(s) · {len(EXPECTED)} folder(s) to make (dry run: --create makes them) · "
        "0 already there · 0 renamed · 0 problem(s)"
    )
    assert "  + UNDLM/SEQ01/UNDLM_00001/ebsynth/keys" in text.splitlines()
    assert tree(mount) == set()
    assert set(shot_tree(mount)["created"]) == EXPECTED


def test_create_makes_exactly_the_tree_of_each_shot_in_the_cut(cut, mount):
    report = shot_tree(mount, "--create")
    assert tree(mount) == EXPECTED  # the omitted shot 004 gets nothing
    assert report["applied"] is True
    assert report["created"][:4] == ["UNDLM", "UNDLM/SEQ01", "UNDLM/SEQ01/UNDLM_00001", "UNDLM/SEQ01/UNDLM_00001/ae"]
    assert set(report["created"]) == EXPECTED and len(report["created"]) == len(EXPECTED)


def test_a_second_run_makes_nothing_new(cut, mount):
    shot_tree(mount, "--create")
    (mount / "UNDLM/SEQ01/UNDLM_00001/ae/shot.aep").write_text("work")
    again = shot_tree(mount, "--create")
    assert (again["created"], again["existing"], again["problems"]) == ([], len(EXPECTED), [])
    assert tree(mount) == EXPECTED
    assert (mount / "UNDLM/SEQ01/UNDLM_00001/ae/shot.aep").read_text() == "work"


def test_a_file_where_a_folder_should_be_is_reported_and_the_rest_made(cut, mount):
    (mount / "UNDLM/SEQ01/UNDLM_00001/ebsynth").mkdir(parents=True)
    (mount / "UNDLM/SEQ01/UNDLM_00001/ebsynth/keys").write_text("a file")
    (mount / "UNDLM/SEQ02").write_text("another file")
    report, message = shot_tree_failing(mount, "--create")
    assert report["problems"] == [
        {
            "shot": "UNDLM_00001",
            "path": "UNDLM/SEQ01/UNDLM_00001/ebsynth/keys",
            "kind": "not_a_directory",
            "detail": "a file is where this folder should be; left as it is",
        },
        {
            "shot": "UNDLM_00003",  # reported once for the shot, not once per folder below it
            "path": "UNDLM/SEQ02",
            "kind": "not_a_directory",
            "detail": "a file is where this folder should be; left as it is",
        },
    ]
    assert message == "2 problem(s), listed above"
    made = tree(mount)
    assert made == EXPECTED - {"UNDLM/SEQ01/UNDLM_00001/ebsynth/keys", "UNDLM/SEQ02"} - shot_folders(2, "UNDLM_00003")
    assert (mount / "UNDLM/SEQ01/UNDLM_00001/ebsynth/keys").read_text() == "a file"


def test_a_renamed_shot_gets_its_new_folder_and_the_old_one_is_named(db, tmp_path, mount):
    sheet = write_csv(tmp_path / "shots.csv", [row(1, scene="DAY"), row(2, scene="DAY", start=2)])
    call_command("import_shots", str(sheet), "--project", "UNDLM", stdout=StringIO())
    shot_tree(mount, "--create")
    (mount / "UNDLM/SEQ01/UNDLM_00001/renders/UNDLM_00001_v001.mov").write_bytes(b"render")
    # The sheet renames shot 001 and moves shot 002 to a new scene.
    write_csv(sheet, [row(1, scene="DAY", nomenclature="UNDLM_00101"), row(2, scene="NIGHT", start=2)])
    call_command("import_shots", str(sheet), "--project", "UNDLM", stdout=StringIO())

    report = shot_tree(mount, "--create")
    assert report["renamed"] == [
        {"shot": "UNDLM_00101", "old": "UNDLM/SEQ01/UNDLM_00001", "new": "UNDLM/SEQ01/UNDLM_00101"},
        {"shot": "UNDLM_00002", "old": "UNDLM/SEQ01/UNDLM_00002", "new": "UNDLM/SEQ02/UNDLM_00002"},
    ]
    assert shot_folders(1, "UNDLM_00101") | shot_folders(2, "UNDLM_00002") <= set(report["created"])
    # Nothing renamed, moved or deleted: the old folders stay with what they hold.
    assert (mount / "UNDLM/SEQ01/UNDLM_00001/renders/UNDLM_00001_v001.mov").read_bytes() == b"render"
    assert shot_folders(1, "UNDLM_00001") | shot_folders(1, "UNDLM_00002") <= tree(mount)
    # Named again on the next run, while the old folder is there; gone once someone removes it.
    assert len(shot_tree(mount)["renamed"]) == 2
    for path in sorted(shot_folders(1, "UNDLM_00002"), reverse=True):
        (mount / path).rmdir()
    assert [item["shot"] for item in shot_tree(mount)["renamed"]] == ["UNDLM_00101"]


def test_two_shots_that_swap_names_are_both_named(db, tmp_path, mount):
    sheet = write_csv(tmp_path / "shots.csv", [row(1, scene="DAY"), row(2, scene="DAY", start=2)])
    call_command("import_shots", str(sheet), "--project", "UNDLM", stdout=StringIO())
    shot_tree(mount, "--create")
    write_csv(
        sheet,
        [row(1, scene="DAY", nomenclature="UNDLM_00002"), row(2, scene="DAY", start=2, nomenclature="UNDLM_00001")],
    )
    call_command("import_shots", str(sheet), "--project", "UNDLM", stdout=StringIO())
    report = shot_tree(mount, "--create")
    # Each folder now holds the other shot's work: both are named, nothing is made or moved.
    assert report["renamed"] == [
        {"shot": "UNDLM_00002", "old": "UNDLM/SEQ01/UNDLM_00001", "new": "UNDLM/SEQ01/UNDLM_00002"},
        {"shot": "UNDLM_00001", "old": "UNDLM/SEQ01/UNDLM_00002", "new": "UNDLM/SEQ01/UNDLM_00001"},
    ]
    assert report["created"] == []


def test_a_rename_into_a_folder_never_made_is_not_reported(db, tmp_path, mount):
    sheet = write_csv(tmp_path / "shots.csv", [row(1, scene="DAY")])
    call_command("import_shots", str(sheet), "--project", "UNDLM", stdout=StringIO())
    write_csv(sheet, [row(1, scene="DAY", nomenclature="UNDLM_00101")])
    call_command("import_shots", str(sheet), "--project", "UNDLM", stdout=StringIO())
    report = shot_tree(mount, "--create")
    assert report["renamed"] == []
    assert tree(mount) == {"UNDLM", "UNDLM/SEQ01"} | shot_folders(1, "UNDLM_00101")


def doc2_folders(nomenclature: str) -> set[str]:
    return {"DOC2", "DOC2/SEQ01", *(path.replace("UNDLM/", "DOC2/", 1) for path in shot_folders(1, nomenclature))}


def test_the_project_template_from_the_admin_is_used(cut, mount):
    other = make_project(code="DOC2")
    make_shot(other, scene=make_scene(other, "ONLY", number=1), shot_number="7", nomenclature="DOC2_00007")
    Project.objects.filter(code="UNDLM").update(folder_template="shots/{shot:0>4}_{scene_name}/{comp,plates/in}")
    report = shot_tree(mount, "--create")
    undlm = {
        f"shots/{number}_{scene}{leaf}"
        for number, scene in [("0001", "DAY"), ("0002", "DAY"), ("0003", "NIGHT")]
        for leaf in ("", "/comp", "/plates", "/plates/in")
    }
    # DOC2 has no template of its own: the setting's.
    assert tree(mount) == {"shots"} | undlm | doc2_folders("DOC2_00007")
    assert report["shots"] == 4


def test_only_the_project_asked_for(cut, mount):
    other = make_project(code="DOC2")
    make_shot(other, scene=make_scene(other, "ONLY", number=1), nomenclature="DOC2_00001")
    shot_tree(mount, "--create", "--project", "DOC2")
    assert tree(mount) == doc2_folders("DOC2_00001")
    with pytest.raises(CommandError, match=r"no project 'NOPE' \(projects: DOC2, UNDLM\)"):
        shot_tree(mount, "--project", "NOPE")


def test_a_bad_template_is_refused_with_a_clear_message(cut, mount):
    other = make_project(code="DOC2")
    make_shot(other, scene=make_scene(other, "ONLY", number=1), nomenclature="DOC2_00001")
    # Saved around the admin's validation (a shell, an old row): the project is refused, not laid out.
    Project.objects.filter(code="UNDLM").update(folder_template="{project}/../{nomenclature}")
    report, _message = shot_tree_failing(mount, "--create")
    assert report["problems"] == [
        {
            "shot": None,
            "path": "",
            "kind": "bad_template",
            "detail": "project UNDLM: in '{project}/../{nomenclature}', the folder name '..' is only dots",
        }
    ]
    assert tree(mount) == doc2_folders("DOC2_00001")
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("shot_tree", "--root", str(mount), stdout=out)
    assert "problem project: bad_template: project UNDLM: in '{project}/../{nomenclature}'" in out.getvalue()


@pytest.mark.parametrize("scene_name", ["DAY/NIGHT", ".."])
def test_a_scene_name_that_is_no_folder_name_is_reported_for_its_shots_only(cut, mount, scene_name):
    Project.objects.filter(pk=cut.pk).update(folder_template="{project}/{scene_name}/{nomenclature}/{ae,renders}")
    cut.scenes.filter(number=2).update(name=scene_name)
    report, _message = shot_tree_failing(mount, "--create")
    assert [(p["shot"], p["kind"]) for p in report["problems"]] == [("UNDLM_00003", "unsafe_name")]
    assert f"{{scene_name}} = {scene_name!r}" in report["problems"][0]["detail"]
    assert tree(mount) == {
        "UNDLM",
        "UNDLM/DAY",
        *(f"UNDLM/DAY/UNDLM_0000{n}{leaf}" for n in (1, 2) for leaf in ("", "/ae", "/renders")),
    }
    assert not (mount.parent / "UNDLM_00003").exists()


def test_a_symlink_out_of_the_mount_is_not_followed(cut, mount, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (mount / "UNDLM").mkdir()
    (mount / "UNDLM/SEQ02").symlink_to(outside)
    inside = mount / "shared-seq01"
    inside.mkdir()
    (mount / "UNDLM/SEQ01").symlink_to(inside)  # a link that stays inside the mount is fine
    report, _message = shot_tree_failing(mount, "--create")
    assert report["problems"] == [
        {
            "shot": "UNDLM_00003",
            "path": "UNDLM/SEQ02",
            "kind": "outside_root",
            "detail": f"a symlink to {outside.resolve()}, outside the mount; not followed",
        }
    ]
    assert list(outside.iterdir()) == []
    assert {p.name for p in inside.iterdir()} == {"UNDLM_00001", "UNDLM_00002"}


def test_missing_nomenclature_and_omitted_shots(cut, mount):
    make_shot(cut, scene=cut.scenes.get(number=1), shot_number="005", nomenclature="")
    report, _message = shot_tree_failing(mount)
    assert report["problems"] == [
        {"shot": "shot 005", "path": "", "kind": "missing_value", "detail": "the shot has no nomenclature"}
    ]
    assert not any("UNDLM_00004" in path for path in report["created"])


def test_json_shape(cut, mount):
    report = shot_tree(mount)
    assert set(report) == {"root", "applied", "shots", "created", "existing", "problems", "renamed"}
    assert (report["root"], report["applied"], report["shots"], report["existing"]) == (str(mount), False, 3, 0)
    assert report["problems"] == report["renamed"] == []
    assert all(isinstance(path, str) for path in report["created"])


def test_a_mount_that_is_not_there_is_refused(cut, tmp_path):
    with pytest.raises(CommandError, match="is not a folder"):
        shot_tree(tmp_path / "not-mounted")


def test_two_shots_with_one_folder_the_second_is_reported():
    template = parse("{project}/{shot}/{a,b}")
    values = {"project": "P", "scene": 1, "scene_name": "S", "nomenclature": "N", "shot": "1"}
    plan = plan_tree(template, [ShotSpec("first", values), ShotSpec("second", values)])
    assert [shot.shot for shot in plan.shots] == ["first"]
    assert [(p.shot, p.path, p.kind) for p in plan.problems] == [("second", "P/1", "shared_folder")]


def test_no_folder_is_made_through_a_parent_swapped_for_a_link_meanwhile(cut, mount, tmp_path, monkeypatch):
    """The parent is checked once on the way down and again right before each mkdir."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    real_mkdir = Path.mkdir

    def mkdir_then_swap(self, *args, **kwargs):
        real_mkdir(self, *args, **kwargs)
        if self.name == "SEQ02":  # someone replaces the folder just made with a link out of the mount
            self.rmdir()
            self.symlink_to(outside)

    monkeypatch.setattr(Path, "mkdir", mkdir_then_swap)
    report, _message = shot_tree_failing(mount, "--create")
    assert [(p["shot"], p["path"], p["kind"]) for p in report["problems"]] == [
        ("UNDLM_00003", "UNDLM/SEQ02/UNDLM_00003", "outside_root")
    ]
    assert list(outside.iterdir()) == []


def test_the_default_tree_and_the_default_stage_rules_fit_together(settings):
    """README's claim: a render in a shot's renders/ goes to review; renders/ae/ is matched from the mount's root."""
    rules = parse_rules(settings.POSTFLOW_STAGE_RULES)
    values = {"project": "UNDLM", "scene": 1, "scene_name": "DAY", "nomenclature": "UNDLM_SEQ01_00042", "shot": "42"}
    folders = parse(settings.POSTFLOW_SHOT_TREE_TEMPLATE).render(values)
    assert folders == [
        "UNDLM/SEQ01/UNDLM_SEQ01_00042/ae",
        "UNDLM/SEQ01/UNDLM_SEQ01_00042/ebsynth/keys",
        "UNDLM/SEQ01/UNDLM_SEQ01_00042/ebsynth/out",
        "UNDLM/SEQ01/UNDLM_SEQ01_00042/renders",
    ]
    assert action_for(f"{folders[-1]}/UNDLM_SEQ01_00042_v001.mov", rules) == "review"
    assert action_for("renders/ae/UNDLM_SEQ01_00042_v001.mov", rules) == "ae_completed"
    # The rule README suggests for AE renders saved inside the tree.
    tree_rules = parse_rules(["*/ae/*=ae_completed", *settings.POSTFLOW_STAGE_RULES])
    assert action_for(f"{folders[0]}/UNDLM_SEQ01_00042_v001.mov", tree_rules) == "ae_completed"
    assert action_for(f"{folders[-1]}/UNDLM_SEQ01_00042_v001.mov", tree_rules) == "review"
