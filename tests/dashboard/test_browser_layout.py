"""The dashboard's texts in a real browser (Debian's headless Chromium, Playwright, daphne): a quarantined
render's file name is never broken across lines, a settling render counts down, a long alert is cut at a
word with the whole text on hover, and the shot page draws every version."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from alerts.models import Alert
from frameio.models import Upload
from ingest.models import Render
from postflow.lib.dburl import database_url
from tests.browser import browser_missing, daphne_server, launch_chromium
from tests.factories import make_project, make_render, make_review_note, make_scene, make_shot

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "browser-test-password"
NAME = "UNDLM_0O001_v001.mov"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "browser available"),
]

# How many lines a piece of a cell's text takes: the distinct tops of the boxes of a Range over it.
LINES_OF = """([selector, text]) => {
  const cell = document.querySelector(selector);
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  let whole = "", nodes = [];
  while (walker.nextNode()) { nodes.push([walker.currentNode, whole.length]); whole += walker.currentNode.data; }
  const start = whole.indexOf(text), end = start + text.length;
  const at = (offset) => {
    const [node, base] = nodes.filter(([, b]) => b <= offset).pop();
    return [node, offset - base];
  };
  const range = document.createRange();
  range.setStart(...at(start));
  range.setEnd(...at(end - 1)); range.setEnd(range.endContainer, range.endOffset + 1);
  return new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top))).size;
}"""


@pytest.fixture
def dashboard(transactional_db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    User.objects.create_user("supervisor", password=PASSWORD, is_staff=True)
    project = make_project(code="UNDLM")
    shot = make_shot(project, scene=make_scene(project, "REVEIL"), nomenclature="UNDLM_00042", timeline_in=900_000)
    render = make_render("renders/UNDLM_00042_v001.mov", state=Render.State.UPLOADED, shot=shot, version=1)
    Upload.objects.create(render=render, state=Upload.State.READY, view_url="https://next.frame.io/p/view/f1")
    make_review_note(shot, text="ciel trop chaud")
    reason = "'UNDLM_0O001_v001.mov' matches no naming template " + "(the project's templates, in order) " * 8
    make_render(f"renders/review/{NAME}", state=Render.State.QUARANTINED, reason=reason)
    settling = make_render("renders/review/UNDLM_00042_v002.mov", size=1000)
    Render.objects.filter(pk=settling.pk).update(observed_since=timezone.now() - timedelta(seconds=5))
    detail = "Oldest first: " + ", ".join(f"renders/review/UNDLM_{n:05d}_v001.mov" for n in range(30))
    Alert.objects.create(key="k", rule="r", title="Renders still empty", detail=detail, opened_at=timezone.now(),
                         last_seen_at=timezone.now())  # fmt: skip
    return shot, detail


def test_names_countdowns_alerts_and_the_shot_page_in_a_browser(dashboard, tmp_path):
    from playwright.sync_api import sync_playwright

    shot, detail = dashboard
    database = database_url(connection.settings_dict)
    with daphne_server(database=database, var_dir=tmp_path / "server") as (base, _), sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(10_000)
            page.goto(f"{base}/")
            page.fill("#id_username", "supervisor")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{base}/")

            assert page.evaluate(LINES_OF, ["#quarantine td.path", NAME]) == 1  # not "a few letters per line"

            countdown = "#settling [data-countdown]"
            first = page.text_content(countdown)
            page.wait_for_function(f"() => document.querySelector('{countdown}').textContent !== {first!r}")
            assert page.text_content(countdown).startswith("settling, ")

            alert = page.locator("[data-alerts] li span.muted")
            assert alert.get_attribute("title") == detail
            shown = alert.text_content()
            assert shown.endswith("…") and shown[:-1].rstrip(", ") in detail
            assert shown[:-1].rstrip(", ").rsplit(", ", 1)[-1].endswith("_v001.mov")  # the last name whole

            page.screenshot(path=str(ROOT / "var" / "dashboard-browser-queue.png"), full_page=True)
            page.click(f'[data-notes] a[href="/shots/{shot.pk}/"]')
            page.wait_for_url(f"{base}/shots/{shot.pk}/")
            assert "ciel trop chaud" in page.text_content("#versions")
            assert page.get_attribute("#versions a[target=_blank]", "href") == "https://next.frame.io/p/view/f1"
            page.screenshot(path=str(ROOT / "var" / "dashboard-browser-shot.png"), full_page=True)
        finally:
            browser.close()
