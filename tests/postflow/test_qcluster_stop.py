"""SIGTERM stops `manage.py qcluster` within a bounded time, with an upload mid-transfer: its parts
done are kept, its lease is given back, and the next run sends only the parts not done.

Both ways the signal arrives: at every process of the cluster (systemd's default KillMode=control-group,
or `kill -- -PGID`) and at the main process only (KillMode=mixed, `kill PID`).

Real processes: `manage.py qcluster` in a session of its own (its own process group, as systemd starts
a unit), against a sandbox in this process, on a SQLite file.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from django.core.management import get_commands

from frameio_sandbox.server import SandboxConfig, run_sandbox
from tests.processes import ONE_SHOT_SHEET, ROOT, child_env, manage

MB = 1_000_000
PARTS = 8
# Generous: shared machines are slow. The stop takes a few seconds; before the fix, SIGTERM to the
# whole group hung until SIGKILL, and SIGTERM to the main process waited for the whole upload.
STOP_BOUND = 30.0


@pytest.fixture
def database(tmp_path) -> dict:
    values = child_env(tmp_path, Q_WORKERS="2", LOG_LEVEL="INFO")
    manage(values, "migrate", "-v0")
    return values


@pytest.fixture
def env(tmp_path, database):
    with run_sandbox(SandboxConfig(port=0, data_dir=tmp_path / "sandbox", upload_part_size=4 * MB)) as sandbox:
        values = child_env(tmp_path, sandbox, Q_WORKERS="2", LOG_LEVEL="INFO", FRAMEIO_PART_CONCURRENCY="2")
        sheet = tmp_path / "shots.csv"
        sheet.write_text(ONE_SHOT_SHEET)
        manage(values, "import_shots", str(sheet))
        yield sandbox, values


ENQUEUE = """
from pathlib import Path
from django.conf import settings
from frameio.jobs import enqueue_upload_render
from ingest.services import render_queue_by_hand
from shots.models import Shot
render = render_queue_by_hand(
    path=Path({path!r}), shot=Shot.objects.get(nomenclature="UNDLM_00001"), version=None,
    templates=list(settings.POSTFLOW_NAMING_TEMPLATES), verify=False,  # random bytes: not a movie
)
enqueue_upload_render(render.pk)
"""


def query(env: dict, sql: str) -> tuple:
    database = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database, timeout=30) as db:
        return db.execute(sql).fetchone()


def parts_done(env: dict) -> int:
    return query(env, "SELECT count(*) FROM frameio_uploadpart WHERE done_at IS NOT NULL")[0]


def start_cluster(env: dict, log: Path) -> subprocess.Popen:
    """qcluster as systemd runs a unit: the leader of its own process group; up once it says so."""
    with log.open("w") as out:
        cluster = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while "running." not in log.read_text():
        assert cluster.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return cluster


def group_alive(pgid: int) -> list[int]:
    """The processes of the group that still run (a zombie has finished)."""
    alive = []
    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(process.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return alive


def stop(cluster: subprocess.Popen, mode: str) -> float:
    """Send SIGTERM the way `mode` says (or SIGKILL to the main process: "main killed"); the seconds
    until every process of the group is gone (the whole group is killed after STOP_BOUND, so a hang
    fails the test instead of hanging it)."""
    pgid = cluster.pid
    assert len(group_alive(pgid)) >= 5  # main, sentinel, 2 workers, pusher, monitor
    start = time.monotonic()
    if mode == "group":
        os.killpg(pgid, signal.SIGTERM)
    else:
        os.kill(cluster.pid, signal.SIGKILL if mode == "main killed" else signal.SIGTERM)
    while time.monotonic() - start < STOP_BOUND:
        cluster.poll()  # reaps the main process once it exits
        if not group_alive(pgid):
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    left = group_alive(pgid)
    if left:
        os.killpg(pgid, signal.SIGKILL)
    cluster.wait(timeout=10)
    print(f"\n{mode}: {len(left)} process(es) left {elapsed:.1f} s after the signal")
    assert not left, f"{mode}: still running {elapsed:.0f} s after the signal"
    return elapsed


def test_qcluster_is_postflows_command():
    assert get_commands()["qcluster"] == "postflow"  # postflow precedes django_q in INSTALLED_APPS


@pytest.mark.parametrize("mode", ["group", "parent"])
def test_sigterm_mid_upload_stops_keeps_the_parts_and_gives_back_the_lease(env, tmp_path, mode):
    sandbox, values = env
    render = tmp_path / "UNDLM_00001_v001.mov"
    render.write_bytes(os.urandom(PARTS * 4 * MB))
    slow = sandbox.faults.add("PUT /s3/*", bandwidth=1 * MB)  # 4 s a part, 2 at once: 16 s in all
    log = tmp_path / "qcluster.log"
    cluster = start_cluster(values, log)
    try:
        manage(values, "shell", "-c", ENQUEUE.format(path=str(render)))
        deadline = time.monotonic() + 90
        while parts_done(values) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        elapsed = stop(cluster, mode)
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
    assert elapsed < STOP_BOUND
    row = query(values, "SELECT state, lease_owner, lease_until, attempts, last_error FROM frameio_upload")
    done = parts_done(values)
    assert row == ("uploading", "", None, 0, ""), log.read_text()  # stopped, lease given back, no try lost
    assert 2 <= done < PARTS  # stopped mid-way, the parts done kept
    assert "Q Cluster" in log.read_text() and "has stopped" in log.read_text()

    # The next run sends only the parts not done, to the same Frame.io file.
    sandbox.faults.remove(slow)
    counter = sandbox.faults.add("PUT /s3/*")
    result = manage(values, "frameio_upload", str(render), "--shot", "UNDLM_00001", "--no-verify", timeout=120)
    assert "uploaded:" in result.stdout
    assert counter.hits == PARTS - done
    [remote] = [f for f in sandbox.state.files.values() if f["name"] == render.name]
    received = b"".join(Path(remote["_parts"][str(i)]["path"]).read_bytes() for i in range(1, PARTS + 1))
    assert received == render.read_bytes()


def enqueue_sleep(env: dict, log: Path) -> None:
    """A job that takes no notice of a stop: ten minutes asleep."""
    manage(env, "shell", "-c", "from django_q.tasks import async_task; async_task('time.sleep', 600)")
    deadline = time.monotonic() + 60
    while "'time.sleep'" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def test_a_job_that_does_not_stop_is_killed_after_q_stop_seconds(database, tmp_path):
    values = {**database, "Q_STOP_SECONDS": "3"}
    log = tmp_path / "qcluster.log"
    cluster = start_cluster(values, log)
    try:
        enqueue_sleep(values, log)
        stop(cluster, "parent")
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
    assert "did not stop within 3 s (Q_STOP_SECONDS)" in log.read_text()


def test_the_cluster_stops_when_its_main_process_is_killed(database, tmp_path):
    """SIGKILL to the main process (the OOM killer): the sentinel, which ignores SIGTERM, stops the rest."""
    log = tmp_path / "qcluster.log"
    cluster = start_cluster(database, log)
    try:
        stop(cluster, "main killed")
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
