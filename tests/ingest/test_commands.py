import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ingest.models import Render
from tests.factories import make_project, make_scene, make_shot
from tests.ingest.media import make_clip

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mount(db, tmp_path, settings):
    project = make_project(code="UNDLM", fps=25)
    make_shot(project, scene=make_scene(project, "S", number=1), nomenclature="UNDLM_00042", duration=50)
    settings.POSTFLOW_SETTLE_SECONDS = 0
    settings.POSTFLOW_NAMING_TEMPLATES = ["{project}_SEQ{scene}_{shot}_v{version}", "{project}_{shot}_v{version}"]
    settings.POSTFLOW_STAGE_RULES = ["*=review"]
    root = tmp_path / "mount"
    make_clip(root / "review" / "UNDLM_SEQ01_00042_v001.mov", frames=50)
    make_clip(root / "review" / "UNDLM_00043_v001.mov", frames=50)
    (root / "review" / "readme.txt").write_text("not a render")
    return root


def test_oneshot_json_prints_one_object_per_file(mount, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("frameio.jobs.async_task", lambda *args: None)
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("watch", "--oneshot", "--json", "--root", str(mount), stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows == [
        {
            "path": "review/UNDLM_00043_v001.mov",
            "state": "quarantined",
            "shot": None,
            "version": None,
            "reason": rows[0]["reason"],
            "waiting": None,
            "until": None,
        },
        {
            "path": "review/UNDLM_SEQ01_00042_v001.mov",
            "state": "queued",
            "shot": "UNDLM_00042",
            "version": 1,
            "reason": "",
            "waiting": None,
            "until": None,
        },
    ]
    assert "no shot UNDLM_00043" in rows[0]["reason"]


def test_oneshot_on_a_missing_root_fails_clearly(db, tmp_path):
    with pytest.raises(CommandError, match="is unavailable"):
        call_command("watch", "--oneshot", "--root", str(tmp_path / "not-mounted"), stdout=StringIO())


def test_json_needs_oneshot(db):
    with pytest.raises(CommandError, match="--json goes with --oneshot"):
        call_command("watch", "--json")


def test_admin_release_and_dismiss(mount, admin_client, monkeypatch):
    monkeypatch.setattr("frameio.jobs.async_task", lambda *args: None)
    call_command("watch", "--oneshot", "--root", str(mount), stdout=StringIO())
    quarantined = Render.objects.get(state=Render.State.QUARANTINED)
    queued = Render.objects.get(state=Render.State.QUEUED)
    url = reverse("admin:ingest_render_changelist")
    assert admin_client.get(url + "?state__exact=quarantined").status_code == 200
    admin_client.post(url, {"action": "release", "_selected_action": [quarantined.pk, queued.pk]})
    quarantined.refresh_from_db()
    queued.refresh_from_db()
    assert (quarantined.state, queued.state) == (Render.State.STABLE, Render.State.QUEUED)
    quarantined.state = Render.State.QUARANTINED
    quarantined.save()
    admin_client.post(url, {"action": "dismiss", "_selected_action": [quarantined.pk]})
    quarantined.refresh_from_db()
    assert quarantined.state == Render.State.DISMISSED and quarantined.reason == "dismissed by user:admin"
    # The ledger is append-only from the admin: no delete.
    assert admin_client.post(reverse("admin:ingest_render_delete", args=[queued.pk])).status_code == 403


def test_watch_stops_cleanly_on_sigterm(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "POSTFLOW_VAR_DIR": str(tmp_path),
        "POSTFLOW_SCAN_INTERVAL_SECONDS": "0.2",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)
    (tmp_path / "mount").mkdir()
    process = subprocess.Popen(
        [*manage, "watch", "--root", str(tmp_path / "mount")], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert "watching" in process.stdout.readline()
        time.sleep(1)  # a few scans
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert "watcher stopped" in process.stdout.read()
    finally:
        process.kill()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        # What a template or a rule means is ingest's system check (ingest/checks.py), run by every command.
        (
            "POSTFLOW_NAMING_TEMPLATES",
            "{project}_{shot}",
            "(ingest.E001) POSTFLOW_NAMING_TEMPLATES: template '{project}_{shot}' needs {version} exactly once",
        ),
        (
            "POSTFLOW_STAGE_RULES",
            "renders/*=publish",
            "(ingest.E002) POSTFLOW_STAGE_RULES: 'renders/*=publish': action must be review, ignore or a status",
        ),
        ("POSTFLOW_SCAN_INTERVAL_SECONDS", "0", "(postflow.E001) POSTFLOW_SCAN_INTERVAL_SECONDS=0 is out of range"),
    ],
)
def test_bad_watcher_settings_fail_at_start(tmp_path, variable, value, message):
    env = {**os.environ, "POSTFLOW_VAR_DIR": str(tmp_path), variable: value}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0 and variable in result.stderr and message in result.stderr


def test_oneshot_json_shows_an_undecodable_name_escaped(mount, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("frameio.jobs.async_task", lambda *args: None)
    with open(os.path.join(os.fsencode(mount), b"review/UNDLM_00209_v012\xff\xfe.mov"), "wb") as handle:
        handle.write(b"not a movie")
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("watch", "--oneshot", "--json", "--root", str(mount), stdout=out)
    rows = {row["path"]: row for row in map(json.loads, out.getvalue().encode("utf-8").splitlines())}
    bad = rows[r"review/UNDLM_00209_v012\xff\xfe.mov"]
    assert bad["state"] == "quarantined" and r"not valid UTF-8: UNDLM_00209_v012\xff\xfe.mov" in bad["reason"]
    assert rows["review/UNDLM_SEQ01_00042_v001.mov"]["state"] == "queued"


def test_nomenclature_shows_a_name_it_cannot_print_escaped(mount):
    out = StringIO()
    call_command("nomenclature", "caf\udce9/UNDLM_SEQ01_00042_v001.mov", stdout=out)
    assert out.getvalue().startswith(r"caf\xe9/UNDLM_SEQ01_00042_v001.mov: template")
    assert out.getvalue().encode("utf-8")  # what a terminal takes


def test_oneshot_says_why_a_render_waits(mount, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr("frameio.jobs.async_task", lambda *args: None)
    (mount / "review" / "UNDLM_00042_v002.mov").touch()  # a LucidLink placeholder: no data yet
    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("watch", "--oneshot", "--json", "--root", str(mount), stdout=out)
    rows = {row["path"]: row for row in map(json.loads, out.getvalue().splitlines())}
    placeholder = rows["review/UNDLM_00042_v002.mov"]
    assert placeholder["state"] == "discovered" and placeholder["until"] is None
    assert (
        placeholder["waiting"] == placeholder["reason"] == "0 bytes: a LucidLink placeholder or an empty file, waiting"
    )
