"""kill -9 in the middle of an upload, start again: it goes on from the parts not yet done.

Real processes: `manage.py frameio_upload` against a sandbox in this process, on a SQLite file.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from frameio_sandbox.server import SandboxConfig, run_sandbox
from tests.processes import ONE_SHOT_SHEET, ROOT, child_env, manage

MB = 1_000_000
PARTS = 6


@pytest.fixture
def env(tmp_path):
    with run_sandbox(SandboxConfig(port=0, data_dir=tmp_path / "sandbox", upload_part_size=4 * MB)) as sandbox:
        values = child_env(tmp_path, sandbox, FRAMEIO_UPLOAD_LEASE_SECONDS="2", FRAMEIO_PART_CONCURRENCY="2")
        manage(values, "migrate", "-v0")
        sheet = tmp_path / "shots.csv"
        sheet.write_text(ONE_SHOT_SHEET)
        manage(values, "import_shots", str(sheet))
        yield sandbox, values


def parts_done(env: dict) -> int:
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        return db.execute("SELECT count(*) FROM frameio_uploadpart WHERE done_at IS NOT NULL").fetchone()[0]


def test_kill_9_mid_upload_resumes_from_the_parts_not_done(env, tmp_path):
    sandbox, values = env
    render = tmp_path / "UNDLM_00001_v001.mov"
    render.write_bytes(os.urandom(PARTS * 4 * MB))
    slow = sandbox.faults.add("PUT /s3/*", bandwidth=3 * MB)  # about 1.3 s a part: time to kill mid-way
    command = [sys.executable, str(ROOT / "manage.py"), "frameio_upload", str(render), "--shot", "UNDLM_00001"]
    command.append("--no-verify")  # random bytes stand for the render: this test is about resuming
    worker = subprocess.Popen(command, env=values, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while parts_done(values) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)  # no cleanup, no lease release: a crash
        worker.wait(timeout=10)
    finally:
        worker.kill()
    done = parts_done(values)
    assert 2 <= done < PARTS
    [remote] = [f for f in sandbox.state.files.values() if f["name"] == render.name]
    assert remote["status"] == "created"

    sandbox.faults.remove(slow)
    counter = sandbox.faults.add("PUT /s3/*")  # counts the PUTs of the second run
    time.sleep(2.5)  # the dead worker's lease runs out
    result = manage(values, "frameio_upload", str(render), "--shot", "UNDLM_00001", "--no-verify", timeout=120)
    assert "uploaded:" in result.stdout
    assert counter.hits == PARTS - done  # only the parts that had not landed (none in flight was recorded)
    [remote] = [f for f in sandbox.state.files.values() if f["name"] == render.name]  # still one file
    assert remote["status"] in ("uploaded", "transcoded")
    received = b"".join(Path(remote["_parts"][str(i)]["path"]).read_bytes() for i in range(1, PARTS + 1))
    assert received == render.read_bytes()


def test_kill_9_before_the_landed_parts_are_recorded_resends_only_those(env, tmp_path):
    """Parts are recorded in batches (FRAMEIO_PART_RECORD_SECONDS): a crash after parts landed and before
    their batch was written re-sends those parts, and only the parts not recorded; still one file."""
    sandbox, values = env
    values = values | {"FRAMEIO_PART_RECORD_SECONDS": "600"}  # no batch falls due before the end
    render = tmp_path / "UNDLM_00001_v001.mov"
    render.write_bytes(os.urandom(PARTS * 4 * MB))
    slow = sandbox.faults.add("PUT /s3/*", bandwidth=3 * MB)
    command = [sys.executable, str(ROOT / "manage.py"), "frameio_upload", str(render), "--shot", "UNDLM_00001"]
    command.append("--no-verify")
    worker = subprocess.Popen(command, env=values, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def landed() -> int:
        files = [f for f in list(sandbox.state.files.values()) if f["name"] == render.name]
        return len(files[0]["_parts"]) if files else 0

    try:
        deadline = time.monotonic() + 60
        while landed() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)  # parts landed, their batch not written: a crash
        worker.wait(timeout=10)
    finally:
        worker.kill()
    done = parts_done(values)
    assert landed() >= 2 and done < landed()  # landed at Frame.io, not recorded here
    sandbox.faults.remove(slow)
    counter = sandbox.faults.add("PUT /s3/*")
    time.sleep(2.5)  # the dead worker's lease runs out
    result = manage(values, "frameio_upload", str(render), "--shot", "UNDLM_00001", "--no-verify", timeout=120)
    assert "uploaded:" in result.stdout
    assert counter.hits == PARTS - done  # the unrecorded parts again (landed or not), the recorded ones never
    [remote] = [f for f in sandbox.state.files.values() if f["name"] == render.name]  # still one file
    assert remote["status"] in ("uploaded", "transcoded")
    received = b"".join(Path(remote["_parts"][str(i)]["path"]).read_bytes() for i in range(1, PARTS + 1))
    assert received == render.read_bytes()
