"""Benchmark: latency from commit to the browser, over N status changes.

    .venv/bin/python bench/realtime_latency.py [--changes 100] [--gap 0.15]

Starts daphne (postflow.asgi, embedded mode: in-memory channel layer + event-table relay) on a
fresh SQLite database under var/bench/, opens the dashboard in Debian's headless Chromium, then,
from this process (another process than the server, as the watcher or the worker would be),
moves N shots one at a time with `shots.services.shot_transition`, `--gap` seconds apart.
For each change: t0 = when the service returned (the change and its live event committed),
t1 = when the page had applied the event to its DOM (dashboard.js records Date.now()).
Prints the median, p95 and max of t1 - t0. Needs /usr/bin/chromium and the playwright package.
"""

import argparse
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import new_workdir  # noqa: E402

os.environ.setdefault("LOG_LEVEL", "WARNING")

from tests.browser import (  # noqa: E402
    browser_missing,
    daphne_server,
    launch_chromium,
    percentile,
    session_cookies,
    setup_standalone_django,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.15, help="seconds between changes (jittered ±50 %%)")
    args = parser.parse_args()
    if reason := browser_missing():
        sys.exit(reason)

    workdir = new_workdir("latency-")
    database = setup_standalone_django(workdir)
    shot_ids = _make_shots(args.changes)
    [session] = session_cookies("bench", 1)
    # The ORM stays off the browser's thread: Playwright's sync API runs an event loop there.
    django_thread = ThreadPoolExecutor(1)

    from playwright.sync_api import sync_playwright

    with daphne_server(database=database, var_dir=workdir) as (base, _), sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": session, "url": base}])
        page = context.new_page()
        page.goto(f"{base}/")
        page.wait_for_selector('#live-status[data-state="live"]', timeout=10_000)
        print(f"dashboard live at {base}; {args.changes} changes made by this process, gap {args.gap} s")
        committed = {}
        rng = random.Random(1)
        for shot_id in shot_ids:
            event_id, at = django_thread.submit(_move, shot_id).result()
            committed[event_id] = at
            time.sleep(args.gap * rng.uniform(0.5, 1.5))
        page.wait_for_function(f"window.postflowLive.received.length >= {len(committed)}", timeout=10_000)
        received = {row["id"]: row["t"] for row in page.evaluate("window.postflowLive.received")}
        page.screenshot(path=str(workdir / "dashboard.png"), full_page=True)
        browser.close()

    latencies = [received[event_id] - at for event_id, at in committed.items() if event_id in received]
    missing = len(committed) - len(latencies)
    print(
        f"commit -> browser DOM over {len(latencies)} changes: median {percentile(latencies, 0.5):.0f} ms, "
        f"p95 {percentile(latencies, 0.95):.0f} ms, max {max(latencies):.0f} ms; missing {missing}; "
        f"extra {len(received) - len(latencies)}"
    )


def _make_shots(n: int) -> list[int]:
    from shots.models import Project, Scene, Shot

    project = Project.objects.create(code="BENCH", name="Bench film", fps=25)
    scene = Scene.objects.create(project=project, name="ONE", number=1)
    shots = Shot.objects.bulk_create(
        [Shot(project=project, scene=scene, shot_number=f"{i:04d}", nomenclature=f"BENCH_{i:04d}") for i in range(n)]
    )
    return [shot.pk for shot in shots]


def _move(shot_id: int) -> tuple[int, float]:
    from postflow.models import LiveEvent
    from shots.services import shot_transition

    shot_transition(shot_id=shot_id, to_status="sources_verified", actor="bench")
    at = time.time() * 1000  # the change committed, and its live event right after it
    return LiveEvent.objects.order_by("-id").values_list("id", flat=True).first(), at


if __name__ == "__main__":
    main()
