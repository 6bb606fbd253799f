"""kill -9 in the middle of a review proxy's encode, start again: no half proxy under its final name, ever;
the next run removes what the dead one left and builds it whole.

Real processes on a SQLite file: `manage.py watch --oneshot` verifies a PNG sequence, `manage.py
review_proxy` encodes its proxy and is killed mid-way, then run again.
"""

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.ingest.media import decoded_frames, make_sequence
from tests.processes import ONE_SHOT_SHEET, ROOT, child_env, manage

FRAMES = 500  # 640x360: a few seconds of encoding, time to kill it after its first progress write


@pytest.fixture
def env(tmp_path):
    mount = tmp_path / "mount"
    values = child_env(
        tmp_path, LUCIDLINK_MOUNT_PATH=str(mount), POSTFLOW_SETTLE_SECONDS="0", POSTFLOW_PROXY_WIDTH="640"
    )
    manage(values, "migrate", "-v0")
    sheet = tmp_path / "shots.csv"
    sheet.write_text(ONE_SHOT_SHEET)
    manage(values, "import_shots", str(sheet))
    return values, mount


def proxy_row(env: dict) -> dict:
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM ingest_reviewproxy").fetchone()
    return dict(row) if row else {}


def expire_the_lease(env: dict) -> None:
    """What the passing of PROXY_LEASE (two minutes) does to a dead worker's lease."""
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        db.execute("UPDATE ingest_reviewproxy SET lease_until = '2000-01-01 00:00:00'")


def test_kill_9_mid_encode_leaves_no_proxy_and_the_next_run_builds_it(env):
    values, mount = env
    make_sequence(mount / "renders", "UNDLM_00001_v001", range(1, FRAMES + 1))
    seen = json.loads(manage(values, "watch", "--oneshot", "--json").stdout.splitlines()[0])
    assert seen["state"] == "verified" and seen["reason"] == "waiting for its review proxy"
    render_id = proxy_row(values)["render_id"]
    folder = mount / "renders" / ".postflow-proxies"

    command = [sys.executable, str(ROOT / "manage.py"), "review_proxy", str(render_id)]
    worker = subprocess.Popen(command, env=values, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not proxy_row(values)["frames_done"] and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)  # no cleanup, no lease given back: a crash
        worker.wait(timeout=10)
    finally:
        worker.kill()
    row = proxy_row(values)
    assert row["state"] == "encoding" and 0 < row["frames_done"] < FRAMES
    assert not (folder / "UNDLM_00001_v001.mp4").exists()  # nothing under the final name
    [leftover] = folder.glob(".UNDLM_00001_v001.mp4.*.partial")  # only the dead worker's temporary file

    # While its lease stands, another run leaves it alone; once it ran out, the next run builds it whole.
    with pytest.raises(subprocess.CalledProcessError) as held:
        manage(values, "review_proxy", str(render_id))
    assert held.value.stdout == f"render {render_id}: encoding\n"
    expire_the_lease(values)
    assert "ready: 500 frames" in manage(values, "review_proxy", str(render_id)).stdout
    assert not leftover.exists() and list(folder.iterdir()) == [folder / "UNDLM_00001_v001.mp4"]
    facts, images = decoded_frames(folder / "UNDLM_00001_v001.mp4")
    assert (facts["frames"], facts["rate"], len(images)) == (FRAMES, 25, FRAMES)
    assert proxy_row(values)["attempts"] == 2
