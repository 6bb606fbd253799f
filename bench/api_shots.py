"""Benchmark: server time of GET /api/v1/shots?page_size=100 with 10,000 shots.

    .venv/bin/python bench/api_shots.py [--shots 10000] [--scenes 50] [--requests 100]

Builds a fresh SQLite database under var/bench/ (WAL, as in production) with the shots spread over the
scenes at random statuses, 1,000 renders (a third of them in Frame.io) and 2,000 review notes, and a
token for a user with the view permission (not a superuser: the permission queries are counted). Then
times the first page, a middle page and a filtered page in-process (middleware, token, queries,
serialisation and validation: everything but the network), with the median, p95 and the number of SQL
queries of each, and checks that the number does not change from page to page.
"""

import argparse
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
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()

    workdir = new_workdir("api-shots-")
    setup_standalone_django(workdir)
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.POSTFLOW_API_THROTTLE_RATE = "1000000/min"  # timing the answer, not the limit
    started = time.perf_counter()
    _populate(args.shots, args.scenes)
    print(f"{args.shots} shots in {args.scenes} scenes built in {time.perf_counter() - started:.1f} s ({workdir})")
    token = _token()
    middle = args.shots // 200
    counts = set()
    for label, url in (
        ("page 1 of 100", "/api/v1/shots?page_size=100"),
        (f"page {middle} of 100", f"/api/v1/shots?page_size=100&page={middle}"),
        ("scene 3, stage after_effects", "/api/v1/shots?page_size=100&scene=3&stage=after_effects"),
    ):
        times, queries = _time(url, token, args.requests)
        counts.add(queries)
        print(
            f"{label:<30} median {statistics.median(times):6.1f} ms   p95 {percentile(times, 0.95):6.1f} ms   "
            f"max {max(times):6.1f} ms   {queries} queries   ({args.requests} requests)"
        )
    print("the same number of queries on every page" if len(counts) == 1 else f"query counts differ: {counts}")


def _populate(n_shots: int, n_scenes: int) -> None:
    from django.utils import timezone

    from frameio.models import ReviewNote, Upload
    from ingest.models import Render
    from shots.models import Project, Scene, Shot
    from shots.workflow import ORDER

    rng = random.Random(7)
    project = Project.objects.create(code="UNDLM", name="Bench film", fps=25)
    scenes = Scene.objects.bulk_create(
        [Scene(project=project, name=f"SCENE {i}", number=i + 1) for i in range(n_scenes)]
    )
    shots = Shot.objects.bulk_create(
        [
            Shot(
                project=project,
                scene=scenes[i * n_scenes // n_shots],
                shot_number=f"{i + 1:05d}",
                nomenclature=f"UNDLM_{i + 1:05d}",
                timeline_in=i * 100,
                timeline_out=i * 100 + 100,
                duration=100,
                status=rng.choice(ORDER),
            )
            for i in range(n_shots)
        ],
        batch_size=1000,
    )
    now = timezone.now()
    renders = Render.objects.bulk_create(
        [
            Render(
                root="/bench",
                path=f"renders/{shot.nomenclature}_v001.mov",
                first_seen=now,
                observed_since=now,
                state="uploaded",
                shot=shot,
                version=1,
                checksum=f"{i:032x}",
                size=10**9,
            )
            for i, shot in enumerate(rng.sample(shots, min(1000, len(shots))))
        ],
        batch_size=500,
    )
    Upload.objects.bulk_create(
        [Upload(render=r, state="ready", view_url=f"https://next.frame.io/v/{r.pk}") for r in renders[::3]]
    )
    ReviewNote.objects.bulk_create(
        [
            ReviewNote(
                frameio_comment_id=f"c-{r.pk}-{n}",
                frameio_file_id=f"f-{r.pk}",
                shot_id=r.shot_id,
                render=r,
                version=1,
                text="sky",
                author="Ana",
                frame=n * 10,
                render_fps=25.0,
                offset_frames=n * 10 - 1,
                commented_at=now,
                completed_at=now if n == 1 else None,
            )
            for r in renders
            for n in (1, 2)
        ],
        batch_size=1000,
    )


def _token() -> str:
    from django.contrib.auth.models import Permission, User

    from api.tokens import token_create

    user = User.objects.create_user("bench")
    user.user_permissions.add(Permission.objects.get(codename="view_shot"))
    return token_create(username="bench", read_only=True).secret


def _time(url: str, token: str, requests: int) -> tuple[list[float], int]:
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    for _ in range(3):  # warm the caches (and the token's last_used_at)
        assert client.get(url).status_code == 200
    captured = []
    with connection.execute_wrapper(lambda execute, sql, *rest: captured.append(sql) or execute(sql, *rest)):
        response = client.get(url)
    assert response.status_code == 200 and len(response.json()["results"]) <= 100
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return times, len(captured)


if __name__ == "__main__":
    main()
