"""Benchmark: server time of the dashboard pages with 10,000 shots.

    .venv/bin/python bench/dashboard.py [--shots 10000] [--scenes 50] [--requests 50]

Builds a fresh SQLite database under var/bench/ (WAL, as in production) with the shots spread over
the scenes at random statuses, 5,000 shot events, 1,000 renders and a watcher heartbeat, and one
shot with 10 versions in Frame.io and 50 review notes, then times GET /, GET /scenes/<id>/ and that
shot's GET /shots/<id>/ in-process (middleware, session, queries, template: everything
but the network) and prints the median and p95 per page, with the number of SQL queries.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import new_workdir  # noqa: E402
from tests.browser import percentile, setup_standalone_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=10_000)
    parser.add_argument("--scenes", type=int, default=50)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()

    workdir = new_workdir("dashboard-")
    setup_standalone_django(workdir)
    from django.conf import settings

    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    started = time.perf_counter()
    scene_id, shot_id = _populate(args.shots, args.scenes)
    print(f"{args.shots} shots in {args.scenes} scenes built in {time.perf_counter() - started:.1f} s ({workdir})")
    client = _staff_client()
    for label, url in (
        ("dashboard /", "/"),
        (f"scene page ({args.shots // args.scenes} shots)", f"/scenes/{scene_id}/"),
        ("shot page (10 v., 50 notes)", f"/shots/{shot_id}/"),
    ):
        times, queries = _time_page(client, url, args.requests)
        print(
            f"{label:<28} median {statistics.median(times):6.1f} ms   p95 {percentile(times, 0.95):6.1f} ms   "
            f"max {max(times):6.1f} ms   {queries} queries   ({args.requests} requests)"
        )


def _populate(n_shots: int, n_scenes: int) -> int:
    from django.utils import timezone

    from ingest.models import Render, WatcherHeartbeat
    from shots.models import Project, Scene, Shot, ShotEvent
    from shots.workflow import ORDER

    rng = random.Random(7)
    from django.conf import settings

    project = Project.objects.create(code=settings.POSTFLOW_PROJECT_CODE, name="Bench film", fps=25)
    scenes = Scene.objects.bulk_create(
        [Scene(project=project, name=f"SCENE {i}", number=i + 1) for i in range(n_scenes)]
    )
    shots = Shot.objects.bulk_create(
        [
            Shot(
                project=project,
                scene=scenes[i % n_scenes],
                shot_number=f"{i + 1:05d}",
                nomenclature=f"{project.code}_{i + 1:05d}",
                timeline_in=i * 100,
                timeline_out=i * 100 + 100,
                duration=100,
                status=rng.choice(ORDER),
                notes="retake the sky" if i % 7 == 0 else "",
            )
            for i in range(n_shots)
        ],
        batch_size=1000,
    )
    ShotEvent.objects.bulk_create(
        [
            ShotEvent(
                shot=rng.choice(shots),
                kind="transition",
                from_status="pending",
                to_status="sources_verified",
                actor="bench",
            )
            for _ in range(5000)
        ],
        batch_size=1000,
    )
    now = timezone.now()
    states = ["queued", "done", "quarantined", "discovered"]
    Render.objects.bulk_create(
        [
            Render(
                root="/bench",
                path=f"renders/{i}.mov",
                first_seen=now,
                observed_since=now,
                queued_at=now,
                state=states[i % 4],
                shot=shots[i] if states[i % 4] in ("queued", "done") else None,
                version=1 if states[i % 4] in ("queued", "done") else None,
                reason="no shot" if states[i % 4] == "quarantined" else "",
            )
            for i in range(min(1000, len(shots)))  # 1,000 renders, or one per shot below that
        ],
        batch_size=500,
    )
    WatcherHeartbeat.objects.create(name="watcher", beat_at=now, host="bench", pid=os.getpid())
    return scenes[0].pk, _busy_shot(shots[-1], now).pk  # the last shot: past the 1,000 renders above


def _busy_shot(shot, now):
    """The reference data's busiest shot: 10 versions in Frame.io, 5 review notes on each."""
    from frameio.models import ReviewNote, Upload
    from ingest.models import Render

    media = {"container": "mov", "codec": "prores", "width": 1920, "height": 1080, "fps": 25.0, "frames": 100}
    for version in range(1, 11):
        render = Render.objects.create(
            root="/bench", path=f"renders/{shot.nomenclature}_v{version:03d}.mov", first_seen=now, observed_since=now,
            state="uploaded", shot=shot, version=version, checksum=f"{version:032x}", size=10**9, media=media,
        )  # fmt: skip
        Upload.objects.create(render=render, state="ready", view_url=f"https://next.frame.io/p/view/{version}")
        for n in range(1, 6):
            ReviewNote.objects.create(
                frameio_comment_id=f"c-{version}-{n}", frameio_file_id=f"f-{version}", shot=shot, render=render,
                version=version, text=f"note {n} on v{version}", author="Ana", frame=n * 10, render_fps=25.0,
                offset_frames=n * 10 - 1, commented_at=now,
            )  # fmt: skip
    return shot


def _staff_client():
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.create_user("bench", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def _time_page(client, url: str, requests: int) -> tuple[list[float], int]:
    from django.db import connection

    for _ in range(3):  # warm the template and query caches
        assert client.get(url).status_code == 200
    captured = []
    with connection.execute_wrapper(lambda execute, sql, *rest: captured.append(sql) or execute(sql, *rest)):
        client.get(url)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return times, len(captured)


if __name__ == "__main__":
    main()
