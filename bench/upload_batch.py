"""Benchmark: how long a batch of small renders takes to reach Frame.io through the job queue.

    .venv/bin/python bench/upload_batch.py [--renders 40] [--megabytes 1] [--slots 2] [--timeout 120]

The real path end to end, in child processes: a standalone sandbox (rate limits on, as Frame.io
has them), a SQLite database under var/bench/, `manage.py qcluster` (Q_WORKERS=3) with
MAX_CONCURRENT_UPLOADS=--slots, and --renders verified renders queued at once as the watcher queues
them (ingest.signals.render_queued, so one job each). Prints the seconds from the cluster's start
until every upload is in Frame.io, and exits 1 if that is not under 30 s (issue #19's target for
40 x 1 MB with 2 slots), or if --timeout ran out first (then it prints how many made it).
"""

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import new_workdir  # noqa: E402
from frameio_sandbox.server import SandboxConfig, run_sandbox  # noqa: E402
from tests.processes import child_env  # noqa: E402

TARGET_SECONDS = 30.0

# Run by `manage.py shell`: the renders, as the watcher leaves them once verified and queued.
QUEUE_RENDERS = """
import os, xxhash
from django.db import transaction
from django.utils import timezone
from ingest import signals
from ingest.models import Render
from shots.models import Shot
root, size = os.environ["BENCH_MOUNT"], int(os.environ["BENCH_SIZE"])
now = timezone.now()
for shot in Shot.objects.order_by("nomenclature"):
    data = os.urandom(size)
    path = os.path.join(root, f"{shot.nomenclature}_v001.mov")
    with open(path, "wb") as out:
        out.write(data)
    stat = os.stat(path)
    with transaction.atomic():
        render = Render.objects.create(
            root=root, path=os.path.basename(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns,
            inode=stat.st_ino, first_seen=now, observed_since=now, stable_since=now, state="queued",
            shot=shot, version=1, checksum=xxhash.xxh3_128(data).hexdigest(), verified_at=now,
            queued_at=now, rule="review",
        )
        signals.render_queued.send(sender=Render, render_id=render.pk)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--megabytes", type=float, default=1.0)
    parser.add_argument("--slots", type=int, default=2, help="MAX_CONCURRENT_UPLOADS")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    args = parser.parse_args()
    work = new_workdir("batch-")
    seconds, done = run(work, args.renders, int(args.megabytes * 1e6), args.slots, args.timeout)
    if done < args.renders:
        print(f"timed out: {done} of {args.renders} renders in Frame.io after {seconds:.1f} s")
        sys.exit(1)
    rate = args.renders / seconds
    print(f"{args.renders} x {args.megabytes:g} MB with {args.slots} slots: {seconds:.1f} s ({rate:.2f} renders/s)")
    if seconds >= TARGET_SECONDS and (args.renders, args.megabytes, args.slots) == (40, 1.0, 2):
        sys.exit(f"slower than the {TARGET_SECONDS:g} s target")


def run(work: Path, renders: int, size: int, slots: int, timeout: float) -> tuple[float, int]:
    mount = work / "mount"
    mount.mkdir()
    with run_sandbox(SandboxConfig(port=0, data_dir=work / "sandbox", transcode_delay=0.5)) as sandbox:
        env = child_env(
            work,
            sandbox,
            MAX_CONCURRENT_UPLOADS=str(slots),
            Q_WORKERS=str(slots + 1),
            LOG_LEVEL="WARNING",
            BENCH_MOUNT=str(mount),
            BENCH_SIZE=str(size),
        )
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        sheet = work / "shots.csv"
        rows = "".join(f"{n:03d},UNDLM_{n:05d},SCENE A\n" for n in range(1, renders + 1))
        sheet.write_text("SHOT_NUMBER,NOMENCLATURE,SCENE\n" + rows)
        subprocess.run([*manage, "import_shots", str(sheet)], env=env, check=True, capture_output=True)
        subprocess.run([*manage, "shell", "-c", QUEUE_RENDERS], env=env, check=True)
        log = (work / "qcluster.log").open("w")
        cluster = subprocess.Popen(
            [*manage, "qcluster"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        started = time.monotonic()
        try:
            done = 0
            while time.monotonic() - started < timeout:
                done = _in_frameio(work / "db.sqlite3")
                if done >= renders:
                    break
                time.sleep(0.2)
            return time.monotonic() - started, done
        finally:
            os.killpg(cluster.pid, signal.SIGKILL)  # the bench measures uploads, not the cluster's stop
            cluster.wait()
            log.close()


def _in_frameio(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as db:
        query = "SELECT count(*) FROM frameio_upload WHERE state IN ('uploaded', 'ready')"
        return db.execute(query).fetchone()[0]


if __name__ == "__main__":
    main()
