"""The dashboard's pictures in a real browser (Debian's Chromium through Playwright, against daphne): the cut's
blocks match the database and recolour live, a thumbnail loads, the player seeks to a review note and shows its
record timecode, the charts draw their data. Screenshots of the three pages are saved under var/."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from alerts.models import Metric
from ingest.thumbnails import thumbnail_write
from postflow.lib.dburl import database_url
from shots.models import Shot
from shots.services import shot_transition
from shots.workflow import Status
from tests.browser import browser_missing, daphne_server, launch_chromium, server_env
from tests.dashboard.test_pictures import make_webm, verified_file
from tests.factories import make_project, make_review_note, make_scene, make_shot

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var"
PASSWORD = "browser-test-password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "browser available"),
]

# Every block's status and painted colour, and the palette's colour for that status (a legend swatch's).
BLOCKS = """() => [...document.querySelectorAll('[data-cut-all] [data-cut-shot]')].map((b) => {
  const probe = document.createElement('span'); probe.className = 'st-' + b.dataset.status; document.body.append(probe);
  const palette = getComputedStyle(probe).backgroundColor; probe.remove();
  return [Number(b.dataset.cutShot), b.dataset.status, getComputedStyle(b).backgroundColor, palette];
})"""


@pytest.fixture
def film(transactional_db, settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    settings.POSTFLOW_THUMBNAILS_PATH = tmp_path / "thumbnails"
    project = make_project(code="TST")
    day, night = make_scene(project, "DAY"), make_scene(project, "NIGHT")
    statuses = [Status.PENDING, Status.AE_IN_PROGRESS, Status.REVIEW_UPLOADED, Status.REVIEW_APPROVED]
    for i, status in enumerate(statuses * 3):
        scene = day if i < 7 else night
        make_shot(project, scene=scene, status=status, timeline_in=900_000 + 100 * i, duration=40 + 13 * i)
    make_shot(project, scene=night, timeline_in=902_000, duration=30, omitted=True)
    watched = Shot.objects.get(project=project, timeline_in=900_000)
    reviewed = Shot.objects.get(project=project, timeline_in=900_200)
    render = verified_file(make_webm(tmp_path / "mount" / "TST_00003_v001.webm"), reviewed)
    thumbnail_write(render)
    note = make_review_note(reviewed, frame=26, text="grain on the sky")
    shot_transition(shot_id=watched.pk, to_status=Status.SOURCES_VERIFIED, actor="t")  # a move for the charts
    Metric.objects.create(name=Metric.UPLOAD, at=timezone.now(), value=30e6, amount=10)
    User.objects.create_superuser("supervisor", password=PASSWORD)
    return day, watched, reviewed, note


def test_the_cut_the_thumbnails_the_player_and_the_charts(film, tmp_path, settings):
    from playwright.sync_api import sync_playwright

    day, watched, reviewed, note = film
    # The ORM refuses Playwright's event-loop thread: what the test compares with is read before it starts.
    in_db = dict(Shot.objects.filter(project=watched.project).values_list("pk", "status"))
    record_timecode = note.record_timecode
    database = database_url(connection.settings_dict)
    extra = {"POSTFLOW_THUMBNAILS_PATH": str(settings.POSTFLOW_THUMBNAILS_PATH)}
    server = tmp_path / "server"
    with daphne_server(database=database, var_dir=server, **extra) as (base, _), sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto(f"{base}/")
            page.fill("#id_username", "supervisor")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/")
            page.wait_for_selector('#live-status[data-state="live"]')

            # The strip: one block per shot (omitted included, hatched), in the database's status and colour.
            page.wait_for_function("() => document.querySelectorAll('[data-cut-all] [data-cut-shot]').length > 0")
            blocks = page.evaluate(BLOCKS)
            assert len(blocks) == len(in_db) == 13
            assert {pk: status for pk, status, _, _ in blocks} == in_db
            assert all(painted == palette for _, _, painted, palette in blocks)
            assert page.locator("[data-cut-all] .blk.omitted").count() == 1
            assert page.locator("[data-cut-all] .blk.scene-start").count() == 2
            title = page.get_attribute(f'[data-cut-all] [data-cut-shot="{reviewed.pk}"]', "title")
            assert title.startswith(f"{reviewed.nomenclature} · Review uploaded · v001 · 1 open note")
            page.click(f'[data-cut-scene="{day.pk}"]')  # zoom on a scene: its seven shots, named
            assert page.locator("[data-cut-zoom] [data-cut-shot]").count() == 7

            # The charts, drawn from the rows.
            page.wait_for_selector('[data-charts][data-drawn="true"]')
            assert page.locator('[data-chart="moves"] rect[data-series="Source"]').count() == 1
            assert page.get_attribute('[data-chart="throughput"] rect', "data-value") == "3"
            assert page.locator('[data-chart="open_notes"] polyline').count() == 1

            # A status change made by another process recolours its block, without a reload.
            env = server_env(database=database, var_dir=server, **extra)
            command = [sys.executable, "manage.py", "shot_status", watched.nomenclature, "ae_ready", "--project", "TST"]
            done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            block = f'[data-cut-all] [data-cut-shot="{watched.pk}"]'
            page.wait_for_function(f"""() => document.querySelector('{block}').dataset.status === "ae_ready" """)
            moved = {pk: (status, painted, palette) for pk, status, painted, palette in page.evaluate(BLOCKS)}
            assert moved[watched.pk][0] == "ae_ready" and moved[watched.pk][1] == moved[watched.pk][2]
            page.screenshot(path=str(SCREENSHOTS / "pictures-index.png"), full_page=True)

            # The scene page: the row's thumbnail loads (the latest version's poster frame).
            page.goto(f"{base}/scenes/{day.pk}/")
            thumb = f"#shot-{reviewed.pk} img[data-thumb]"
            page.wait_for_function(f"() => document.querySelector('{thumb}').complete")
            assert page.eval_on_selector(thumb, "img => img.naturalWidth") == 64
            page.wait_for_function("() => document.querySelectorAll('[data-cut-zoom] [data-cut-shot]').length === 7")
            page.screenshot(path=str(SCREENSHOTS / "pictures-scene.png"), full_page=True)

            # The shot page: the render plays; its note's marker seeks to frame 26 and shows its record timecode.
            page.goto(f"{base}/shots/{reviewed.pk}/")
            page.wait_for_function("() => document.querySelector('video[data-video]').readyState >= 1")
            page.click(f'[data-note-marker="{note.pk}"]')
            player = "[data-player]"
            page.wait_for_function(f"() => document.querySelector('{player}').dataset.frame === '26'")
            assert page.text_content(f"{player} [data-frame-now]") == "26"
            assert page.text_content(f"{player} [data-record-tc]") == record_timecode
            page.click(f'{player} [data-step="1"]')
            page.wait_for_function(f"() => document.querySelector('{player}').dataset.frame === '27'")
            page.click(f'tr[data-note-id="{note.pk}"]')  # the note's row seeks too
            page.wait_for_function(f"() => document.querySelector('{player}').dataset.frame === '26'")
            page.screenshot(path=str(SCREENSHOTS / "pictures-shot.png"), full_page=True)
        finally:
            browser.close()
