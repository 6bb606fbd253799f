"""The shot page, the scene page's Frame.io links, why renders wait, and the dashboard's small texts."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert
from frameio.models import Upload
from ingest.models import Render
from ingest.settling import EMPTY_FILE
from shots.services import shot_transition
from shots.workflow import Status
from tests.dashboard.test_dashboard import user_client
from tests.factories import make_project, make_render, make_review_note, make_scene, make_shot

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
VIEW = "https://next.frame.io/project/p1/view/{}"


@pytest.fixture
def shot():
    project = make_project(code="UNDLM")
    return make_shot(project, scene=make_scene(project, "REVEIL"), nomenclature="UNDLM_00042", timeline_in=900_000)


def uploaded(shot, version: int, *, state=Upload.State.READY, view_url: str | None = None) -> Render:
    render = make_render(
        f"renders/UNDLM_00042_v{version:03d}.mov",
        state=Render.State.UPLOADED,
        shot=shot,
        version=version,
        checksum=f"{version:032x}",
        size=2_000_000,
        media={"container": "mov", "codec": "prores", "width": 1920, "height": 1080, "fps": 25.0, "frames": 50},
    )
    Upload.objects.create(render=render, state=state, view_url=VIEW.format(version) if view_url is None else view_url)
    return render


# --- point 1: the scene page's Frame.io column, and the shot page ------------------------------------------


def test_the_scene_page_links_the_latest_version_in_frameio_and_the_shot_page(shot):
    other = make_shot(shot.project, scene=shot.scene)  # nothing uploaded: still "—"
    uploaded(shot, 1)
    uploaded(shot, 2)
    uploaded(shot, 3, state=Upload.State.UPLOADING)  # not in Frame.io yet: v002 is the one to look at
    html = user_client().get(reverse("dashboard:scene", args=[shot.scene_id])).content.decode()
    link = f'<a href="{VIEW.format(2)}" target="_blank" rel="noopener noreferrer" data-frameio="{shot.pk}">'
    assert f"{link}v002 ↗</a>" in html
    assert f'data-frameio="{other.pk}"' not in html and 'title="not on Frame.io yet">—<' in html
    assert f'href="{reverse("dashboard:shot", args=[shot.pk])}"' in html


def test_the_shot_page_shows_every_version_its_notes_and_the_history(shot, django_assert_max_num_queries):
    for version in range(1, 11):  # the reference data's busiest shot: ~10 versions, ~50 notes
        render = uploaded(shot, version)
        for frame in range(1, 6):
            make_review_note(shot, version=version, frame=frame * 5, text=f"v{version} note {frame}", author="Ana")
    make_review_note(shot, version=3, text="deleted in Frame.io", deleted_at=timezone.now())
    shot_transition(shot_id=shot.pk, to_status=Status.SOURCES_VERIFIED, actor="sources", reason="clip A001C003")
    client = user_client()
    # session, user, shot, notes, renders+uploads, events, log position, the user's permissions (the player)
    with django_assert_max_num_queries(9):
        response = client.get(reverse("dashboard:shot", args=[shot.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    page = response.context["page"]
    assert [r.version for r in page.versions] == list(range(10, 0, -1))
    assert len(page.versions[0].notes) == 5 and render.checksum in html
    assert "prores in mov · 1920×1080 · 25.0 fps · 50 frames" in html
    assert f'href="{VIEW.format(7)}"' in html
    # A note: record timecode (10:00:00:00 + 4 frames), render timecode, author, text.
    assert "10:00:00:04" in html and "00:00:00:04" in html and ">Ana<" in html and "v7 note 1" in html
    assert "deleted in Frame.io" not in html
    assert "clip A001C003" in html and ">Sources verified<" in html and "sources" in html


def test_the_shot_page_escapes_what_comes_from_outside(shot):
    uploaded(shot, 1, view_url="javascript:alert(1)")
    make_review_note(shot, text="<script>alert('x')</script>", author="<b>Eve</b>")
    html = user_client().get(reverse("dashboard:shot", args=[shot.pk])).content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in html
    assert "javascript:" not in html  # a link that is not http(s) is not drawn


def test_the_shot_page_needs_a_staff_login(shot):
    url = reverse("dashboard:shot", args=[shot.pk])
    response = Client().get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert user_client("viewer", staff=False).get(url).status_code == 302
    assert user_client().get(reverse("dashboard:shot", args=[999_999])).status_code == 404


def test_the_index_links_notes_and_activity_to_the_shot_page(shot):
    make_review_note(shot, text="sky too warm")
    shot_transition(shot_id=shot.pk, to_status=Status.SOURCES_VERIFIED, actor="test")
    html = user_client().get(reverse("dashboard:index")).content.decode()
    link = f'<a href="{reverse("dashboard:shot", args=[shot.pk])}">UNDLM_00042</a>'
    assert html.count(link) == 2  # the review note and the activity feed


# --- point 5: why a render waits, on the dashboard -------------------------------------------------------


def test_the_upload_queue_says_why_each_render_waits_and_counts_down():
    now = timezone.now()
    settling = make_render("renders/UNDLM_00042_v004.mov", size=1000)
    Render.objects.filter(pk=settling.pk).update(observed_since=now - timedelta(seconds=18))
    make_render("renders/UNDLM_00043_v001.mov", size=0, reason=EMPTY_FILE)
    html = user_client().get(reverse("dashboard:panel-renders")).content.decode()
    row = html[html.index(f'<tr data-render-id="{settling.pk}">') :]
    row = row[: row.index("</tr>")]
    left = re.search(r'data-countdown data-left="(\d+)"[^>]*>settling, (\d+) s left<', row)
    assert left and left[1] == left[2] and left[1] in ("41", "42")  # 60 s from 18 s ago (a second may tick)
    assert "0 bytes: a LucidLink placeholder or an empty file, waiting" in html


# --- point 8: the dashboard's small texts ------------------------------------------------------------------


def test_an_alert_is_cut_at_a_word_with_the_whole_text_on_hover():
    detail = "Oldest first: " + ", ".join(f"renders/review/UNDLM_{n:05d}_v001.mov" for n in range(40))
    Alert.objects.create(key="k", rule="r", title="Renders still empty", detail=detail, opened_at=timezone.now(),
                         last_seen_at=timezone.now())  # fmt: skip
    html = user_client().get(reverse("dashboard:panel-alerts")).content.decode()
    shown = html[html.index('<span class="muted" title="') :]
    title, _, rest = shown.removeprefix('<span class="muted" title="').partition('">')
    text = rest[: rest.index("</span>")]
    assert title == detail and text.endswith("…") and len(text) <= 301
    assert text[:-1].rstrip(", ").rsplit(", ", 1)[-1] in detail.split(", ")  # the last name shown is whole


def test_a_render_name_is_never_broken_in_the_quarantine_table():
    make_render("renders/review/UNDLM_0O001_v001.mov", state=Render.State.QUARANTINED, reason="x " * 200)
    html = user_client().get(reverse("dashboard:panel-renders")).content.decode()
    assert '<span class="dir">renders/review/</span><span class="file">UNDLM_0O001_v001.mov</span>' in html
    css = (ROOT / "dashboard" / "static" / "dashboard" / "dashboard.css").read_text()
    assert "break-all" not in css and ".path .file { white-space: nowrap; }" in css  # in a browser: test_browser_*


def test_the_favicon_is_served_without_a_warning(caplog):
    from io import BytesIO

    from PIL import Image

    with caplog.at_level("WARNING"):
        response = Client().get("/favicon.ico")  # no login: browsers ask for it from the login page too
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert Image.open(BytesIO(response.content)).format == "ICO"
    assert not [record for record in caplog.records if record.levelname == "WARNING"]


def test_at_word_cuts_between_words_and_only_a_single_long_word_inside():
    from dashboard.templatetags.dashboard_text import at_word

    assert at_word("short text", 300) == "short text"
    assert at_word("the sky is too warm, again and again", 22) == "the sky is too warm…"
    assert at_word("x" * 50, 20) == "x" * 20 + "…"  # one word longer than the room: cut inside it
    assert at_word(None, 10) == ""
