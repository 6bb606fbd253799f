"""docs/api.md's render-step script, run as it is written against a live server: it finds the shot,
moves it to ae_in_progress and follows the event feed until the watcher verified the render."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest import services
from ingest.models import Render
from shots.models import Shot
from shots.workflow import Status
from tests.factories import make_render, make_shot

pytestmark = pytest.mark.django_db(transaction=True)

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def render_step_script() -> str:
    section = DOC.read_text().split("## A render step, in Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def run_script(tmp_path, live_server, token, nomenclature) -> subprocess.Popen:
    script = tmp_path / "ae_render_step.py"
    script.write_text(render_step_script())
    env = {"POSTFLOW_URL": live_server.url, "POSTFLOW_TOKEN": token, "PATH": "/usr/bin:/bin"}
    return subprocess.Popen(
        [sys.executable, str(script), nomenclature], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_status(shot: Shot, status: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shot.refresh_from_db()
        if shot.status == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{shot} still {shot.status}")


def test_the_render_step_moves_the_shot_and_waits_for_the_verified_render(live_server, token, tmp_path):
    shot = make_shot(nomenclature="UNDLM_00042", status=Status.AE_READY)
    step = run_script(tmp_path, live_server, token, "UNDLM_00042")
    wait_for_status(shot, Status.AE_IN_PROGRESS)
    time.sleep(0.5)  # the script is now following the feed
    # What the watcher does once it verified the render and the folder's rule said "review".
    render = make_render("renders/UNDLM_00042_v003.mov", state=Render.State.QUEUED, shot=shot, version=3)
    services._publish_render(render.pk)
    out, err = step.communicate(timeout=60)
    assert step.returncode == 0, err
    assert "UNDLM_00042: v003 verified (renders/UNDLM_00042_v003.mov)" in out


def test_the_render_step_reports_an_illegal_move(live_server, token, tmp_path):
    make_shot(nomenclature="UNDLM_00042", status=Status.PENDING)
    step = run_script(tmp_path, live_server, token, "UNDLM_00042")
    _, err = step.communicate(timeout=60)
    assert step.returncode == 1
    assert "cannot move from pending to ae_in_progress" in err and "['sources_verified']" in err
