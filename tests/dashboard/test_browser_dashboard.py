"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, against daphne.

It logs in, then watches a status change made by another process (`manage.py shot_status`) appear
on the dashboard and on the scene page without a reload, then review notes written by this process
(through `frameio.review`, as the webhook job writes them), and saves screenshots under var/.
"""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections
from django.utils import timezone

from frameio import review
from frameio.client import Comment
from frameio.models import Upload
from ingest.models import Render
from postflow import realtime
from postflow.lib.dburl import database_url
from shots.workflow import Status
from tests.browser import browser_missing, daphne_server, launch_chromium, server_env
from tests.factories import make_project, make_render, make_scene, make_shot

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var"
PASSWORD = "browser-test-password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "browser available"),
]


@pytest.fixture
def film(transactional_db, settings):
    # The server checks the password with the production hashers, not the tests' fast MD5.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    project = make_project(code="TST")
    day, night = make_scene(project, "DAY"), make_scene(project, "NIGHT")
    watched = make_shot(project, scene=day, status=Status.PENDING, notes="the one that moves", timeline_in=900_000)
    for status in (Status.PENDING, Status.AE_IN_PROGRESS, Status.REVIEW_APPROVED):
        make_shot(project, scene=day, status=status)
    for status in (Status.FINAL_DELIVERY, Status.EBSYNTH_READY):
        make_shot(project, scene=night, status=status)
    User.objects.create_user("supervisor", password=PASSWORD, is_staff=True)
    render = make_render("TST_00004_v002.mov", state=Render.State.QUEUED)
    upload = Upload.objects.create(render=render, state=Upload.State.UPLOADING, bytes_total=100_000_000)
    return day, watched, upload


def _reviewed_upload(shot) -> Upload:
    render = make_render(
        f"{shot.nomenclature}_v001.mov", state=Render.State.UPLOADED, shot=shot, version=1, media={"fps": 25.0}
    )
    return Upload.objects.create(render=render, state=Upload.State.READY, frameio_file_id="file-1")


def _off_the_loop(service, **kwargs):
    """Call a service from this process: the ORM refuses Playwright's event-loop thread, so in another one."""

    def call():
        try:
            return service(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def _count(page, status: str) -> str:
    return page.text_content(f'[data-count="all:{status}"]')


def test_a_status_change_from_another_process_appears_without_a_reload(film, tmp_path):
    from playwright.sync_api import sync_playwright

    day, watched, upload = film
    reviewed = _reviewed_upload(watched)
    database = database_url(connection.settings_dict)
    with daphne_server(database=database, var_dir=tmp_path / "server") as (base, _), sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})  # one session, two tabs
            # Every wait below the page's 25 s ping: what it waits for must come live, not from a replay.
            context.set_default_timeout(10_000)
            page = context.new_page()
            page.goto(f"{base}/")
            assert "/admin/login/" in page.url  # staff only: the login first
            page.fill("#id_username", "supervisor")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/")
            page.wait_for_selector('#live-status[data-state="live"]', timeout=15000)
            assert (_count(page, "pending"), _count(page, "sources_verified")) == ("2", "0")
            scene_page = context.new_page()
            scene_page.goto(f"{base}/scenes/{day.pk}/")
            scene_page.wait_for_selector('#live-status[data-state="live"]', timeout=15000)
            for p in (page, scene_page):
                p.evaluate("window.__sameDocument = true")  # gone if the page reloads

            command = [sys.executable, "manage.py", "shot_status", watched.nomenclature, "sources_verified"]
            env = server_env(database=database, var_dir=tmp_path / "server")
            done = subprocess.run([*command, "--project", "TST"], cwd=ROOT, env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            # Seen without a reload. How fast is measured by bench/realtime_latency.py, not here: a
            # shared CI machine makes any wall-clock bound in a test a coin toss.
            page.wait_for_function(
                """() => document.querySelector('[data-count="all:sources_verified"]').textContent === "1" """
            )
            assert _count(page, "pending") == "1"
            assert page.text_content("[data-activity] li:first-child a") == watched.nomenclature
            pill = f'[data-shot-status="{watched.pk}"]'
            scene_page.wait_for_function(
                f"""() => document.querySelector('{pill}').dataset.status === "sources_verified" """
            )
            assert scene_page.text_content(pill) == "Sources verified"
            for p in (page, scene_page):
                assert p.evaluate("window.__sameDocument") is True
                assert p.evaluate("window.postflowLive.received.length") == 1  # once, not twice

            # What the upload pipeline and the alerts will publish: one call each, from any process.
            progress = {"upload_id": upload.pk, "name": "TST_00004_v002.mov", "bytes_sent": 75_000_000}
            progress |= {"bytes_total": 100_000_000, "rate_bps": 2_000_000, "eta_seconds": 12.5, "state": "uploading"}
            encoding = {"render_id": 4242, "name": "TST_00005_v001.[1001-1075].png", "frames_done": 37}
            encoding |= {"frames_total": 75, "fps": 12.5, "eta_seconds": 3}  # a review proxy (ingest.proxies)
            # A real alert: the panel the page re-fetches when one opens lists it too.
            finding = "Finding('watcher:w1', 'Watcher silent', 'no heartbeat for 5 min', 'critical')"
            code = (
                "from postflow import realtime; from alerts.rules import Finding; "
                f"from alerts.services import alert_fire; realtime.publish('upload.progress', {progress!r}); "
                f"realtime.publish('proxy.progress', {encoding!r}); "
                f"alert_fire(rule='watcher_silent', finding={finding})"
            )
            done = subprocess.run(
                [*command[:2], "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr
            row = f'#uploads tr[data-upload-id="{upload.pk}"]'
            page.wait_for_function(f"""() => document.querySelector('{row}').textContent.includes("75.0 / 100.0 MB")""")
            assert "2.0 MB/s" in page.text_content(row) and "13 s" in page.text_content(row)
            row = '#uploads tr[data-render-id="4242"]'
            page.wait_for_function(f"""() => document.querySelector('{row}')?.textContent.includes("37 / 75 frames")""")
            assert "TST_00005_v001.[1001-1075].png" in page.text_content(row) and "12.5 fps" in page.text_content(row)
            alert_row = '[data-alerts] li.bad:has-text("Watcher silent")'
            page.wait_for_selector(alert_row)
            assert "no heartbeat for 5 min" in page.text_content(alert_row)

            # Review notes, as the webhook job writes them (here, from the test process): user text, drawn as text.
            hostile = "<b>Ciel</b> trop chaud & <script>window.__pwned = 1</script>"
            first = Comment(id="c-1", file_id="file-1", text=hostile, timestamp=13, owner_name="Ana")
            note, _ = _off_the_loop(review.note_upsert, upload=reviewed, comment=first)
            row = f'[data-notes] tr[data-note-id="{note.pk}"]'
            page.wait_for_selector(row)
            assert page.text_content(f"{row} .note-text") == hostile
            assert page.eval_on_selector(row, "r => r.querySelectorAll('b, script').length") == 0
            cells = page.eval_on_selector_all(f"{row} td", "tds => tds.map(td => td.textContent)")
            assert cells == [watched.nomenclature, "v001", "10:00:00:12", "00:00:00:12", "Ana", hostile]
            cell = f'[data-panel="notes-{watched.pk}"]'
            scene_page.wait_for_function(f"""() => document.querySelector('{cell}').textContent.includes("1 open")""")
            assert "10:00:00:12" in scene_page.text_content(cell) and hostile in scene_page.text_content(cell)

            completed = timezone.now().isoformat()
            done = Comment(
                id="c-1", file_id="file-1", text=hostile, timestamp=13, owner_name="Ana", completed_at=completed
            )
            _off_the_loop(review.note_upsert, upload=reviewed, comment=done)
            page.wait_for_selector(f"{row}.completed .badge.ok")
            scene_page.wait_for_function(f"""() => document.querySelector('{cell}').textContent.trim() === "" """)
            second, _ = _off_the_loop(
                review.note_upsert, upload=reviewed, comment=Comment(id="c-2", file_id="file-1", text="grain")
            )
            page.wait_for_selector(f'[data-notes] tbody tr:first-child[data-note-id="{second.pk}"]')
            _off_the_loop(review.note_delete, comment_id="c-2")
            page.wait_for_selector(f'[data-note-id="{second.pk}"]', state="detached")

            # A re-import: one event, a banner that offers a reload (the page does not reload by itself).
            imported = {"project_id": day.project_id, "project": "TST", "actor": "<i>sheets</i>", "created": 3}
            imported |= {"updated": 0, "omitted": 1, "restored": 0}
            _off_the_loop(realtime.publish, kind="shots.imported", payload=imported)
            page.wait_for_selector("#live-banner:not([hidden])")
            banner = page.text_content("#live-banner")
            assert "(3 created, 1 omitted, by <i>sheets</i>)" in banner and "Reload" in banner
            assert page.eval_on_selector("#live-banner", "b => b.querySelectorAll('i').length") == 0
            for p in (page, scene_page):
                assert p.evaluate("window.__pwned") is None
                assert p.evaluate("window.__sameDocument") is True

            page.wait_for_timeout(500)  # let the bar transition finish for the picture
            page.screenshot(path=str(SCREENSHOTS / "dashboard-browser.png"), full_page=True)
            scene_page.screenshot(path=str(SCREENSHOTS / "dashboard-browser-scene.png"), full_page=True)
        finally:
            browser.close()
