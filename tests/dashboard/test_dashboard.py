"""The supervisors' dashboard: access, aggregates, bounded queries, the scene page, the controls."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dashboard import selectors
from frameio.models import FrameioConnection, ReviewNote, Upload
from frameio.review import notes as review_notes
from ingest.models import Render, WatcherHeartbeat
from ingest.scanner import unsafe_name_reason
from ingest.services import WatchConfig, render_quarantine_path
from postflow.models import LiveEvent
from shots.models import ShotEvent
from shots.services import shot_transition
from shots.workflow import PROGRESS_WEIGHT, Status
from tests.factories import make_project, make_render, make_review_note, make_scene, make_shot

INDEX = reverse("dashboard:index")


def user_client(username: str = "super", *, staff: bool = True, force: bool = False, perms: tuple = ()) -> Client:
    user = User.objects.create_user(username, password="x", is_staff=staff)
    if force:
        perms = (*perms, "shots.force_status")
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label=app_label))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def film(db):
    """Two scenes. DAY: pending, pending, final_delivery, revision_requested, (omitted) final.
    NIGHT: ae_in_progress."""
    project = make_project()
    day, night = make_scene(project, "DAY"), make_scene(project, "NIGHT")
    for status in (Status.PENDING, Status.PENDING, Status.FINAL_DELIVERY, Status.REVISION_REQUESTED):
        make_shot(project, scene=day, status=status)
    make_shot(project, scene=day, status=Status.FINAL_DELIVERY, omitted=True)
    make_shot(project, scene=night, status=Status.AE_IN_PROGRESS, notes="retirer la perche")
    return project, day, night


def test_percent_complete_is_the_mean_position_in_the_pipeline():
    weights = PROGRESS_WEIGHT
    assert weights[Status.PENDING] == 0 and weights[Status.FINAL_DELIVERY] == 1
    assert weights[Status.AE_READY] == pytest.approx(2 / 11)
    # A revision sends the work back: it never counts for more than the upload it answers.
    assert weights[Status.REVISION_REQUESTED] == weights[Status.REVIEW_UPLOADED] == pytest.approx(8 / 11)
    progress = selectors.Progress()
    progress.counts.update({Status.PENDING: 1, Status.FINAL_DELIVERY: 1})
    assert progress.percent == 50
    assert selectors.Progress().percent == 0


@pytest.mark.django_db
@pytest.mark.parametrize("staff", [None, False])
def test_anonymous_and_non_staff_are_sent_to_the_login(staff):
    client = Client() if staff is None else user_client("viewer", staff=False)
    for url in (INDEX, reverse("dashboard:panel-renders"), reverse("dashboard:panel-health")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_overview_counts_per_status_stage_and_scene(film):
    project, _day, _night = film
    overview = selectors.overview(project)
    assert overview.overall.total == 5  # the omitted shot is not counted
    assert overview.overall.counts[Status.PENDING] == 2
    assert overview.overall.delivered == 1
    stages = {row["stage"]: row["n"] for row in overview.overall.stages()}
    assert stages == {"source": 2, "after_effects": 1, "ebsynth": 0, "review": 1, "delivery": 1}
    scenes = {scene.name: progress for scene, progress in overview.scenes}
    assert scenes["DAY"].total == 4
    assert scenes["DAY"].percent == pytest.approx(100 * (0 + 0 + 1 + 8 / 11) / 4)
    assert scenes["NIGHT"].percent == pytest.approx(100 * 3 / 11)
    assert overview.overall.percent == pytest.approx(100 * (1 + 8 / 11 + 3 / 11) / 5)


def test_the_watermark_is_the_newest_shot_event(film):
    project, day, _ = film
    assert selectors.overview(project).watermark == 0
    shot = day.shots.filter(status=Status.PENDING).first()
    event = (
        shot_transition(shot_id=shot.pk, to_status=Status.SOURCES_VERIFIED, actor="test") and ShotEvent.objects.get()
    )
    assert selectors.overview(project).watermark == event.pk


def test_the_page_shows_the_figures(film):
    project, day, night = film
    response = user_client().get(INDEX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-count="all:pending">2<' in html
    assert 'data-delivered="all">1<' in html and 'data-total="all">5<' in html
    assert f'data-pct="{night.pk}">27 %<' in html  # ae_in_progress: 3/11
    assert reverse("dashboard:scene", args=[day.pk]) in html
    live = response.context["live"]
    assert live["scenes"][day.pk][Status.PENDING] == 2
    assert live["project_id"] == project.pk and live["page"] == "index"


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_the_number_of_queries_does_not_grow_with_the_data():
    client = user_client()
    project = make_project()
    scene = make_scene(project, "ONE")
    shot = make_shot(project, scene=scene)
    shot_transition(shot_id=shot.pk, to_status=Status.SOURCES_VERIFIED, actor="test")
    small = _queries(client, INDEX)
    small_scene = _queries(client, reverse("dashboard:scene", args=[scene.pk]))
    for i in range(12):
        other = make_scene(project, f"S{i}")
        for _ in range(5):
            make_shot(project, scene=other if i % 2 else scene, status=Status.AE_READY)
    for shot in scene.shots.filter(status=Status.AE_READY)[:10]:
        shot_transition(shot_id=shot.pk, to_status=Status.AE_IN_PROGRESS, actor="test")
        make_render(f"{shot.pk}.mov", state=Render.State.QUEUED, shot=shot, version=1)
        WatcherHeartbeat.objects.create(name=f"w{shot.pk}", beat_at=timezone.now())
        make_review_note(shot, text="open")
        make_review_note(shot, text="done", completed_at=timezone.now())
        make_review_note(shot, text="gone", deleted_at=timezone.now())
    make_render("bad.mov", state=Render.State.QUARANTINED, reason="no shot")
    # 2 of them read the user's permissions, for the controls; 1 the renders still settling.
    assert _queries(client, INDEX) == small <= 19
    assert _queries(client, reverse("dashboard:scene", args=[scene.pk])) == small_scene <= 8


def test_scene_page_lists_shots_with_status_latest_version_and_notes(film):
    _project, _day, night = film
    shot = night.shots.get()
    for version, state in ((1, Render.State.DONE), (3, Render.State.QUEUED), (5, Render.State.QUARANTINED)):
        make_render(f"v{version}.mov", state=state, shot=shot, version=version)
    response = user_client().get(reverse("dashboard:scene", args=[night.pk]))
    assert response.status_code == 200
    [row] = response.context["shots"]
    assert row.latest_version == 3  # quarantined versions do not count
    html = response.content.decode()
    assert f'data-shot-status="{shot.pk}" data-status="ae_in_progress">AE in progress<' in html
    assert "v003" in html and "retirer la perche" in html
    assert 'title="not on Frame.io yet">—<' in html
    assert "Force status" not in html  # no permission, no form


def test_scene_page_of_an_unknown_scene_is_404(film):
    assert user_client().get(reverse("dashboard:scene", args=[999])).status_code == 404


# --- controls --------------------------------------------------------------------------------


def _force(client: Client, shot, status: str, reason: str, **extra):
    url = reverse("dashboard:force-status", args=[shot.pk])
    return client.post(url, {"status": status, "reason": reason, **extra})


def test_force_status_needs_the_permission(film):
    _, _, night = film
    shot = night.shots.get()
    response = _force(user_client(), shot, Status.FINAL_DELIVERY, "approved on set")
    assert response.status_code == 403
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS
    assert not ShotEvent.objects.exists()


def test_force_status_calls_the_service_and_publishes(film, django_capture_on_commit_callbacks):
    _, _, night = film
    shot = night.shots.get()
    client = user_client(force=True)
    assert "Force status" in client.get(reverse("dashboard:scene", args=[night.pk])).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = _force(client, shot, Status.FINAL_DELIVERY, "approved on set", next="/scenes/1/?x")
    assert response.status_code == 302 and response["Location"] == "/scenes/1/?x"
    shot.refresh_from_db()
    assert shot.status == Status.FINAL_DELIVERY
    event = ShotEvent.objects.get()
    assert (event.kind, event.actor, event.reason) == (ShotEvent.Kind.OVERRIDE, "user:super", "approved on set")
    live = LiveEvent.objects.get()
    assert live.kind == "shot.status"
    assert live.payload["event_id"] == event.pk and live.payload["to"] == "final_delivery"
    assert live.payload["from"] == "ae_in_progress" and live.payload["scene_id"] == night.pk


def test_force_status_without_a_reason_changes_nothing(film):
    _, _, night = film
    shot = night.shots.get()
    response = _force(user_client(force=True), shot, Status.FINAL_DELIVERY, "   ", next="https://evil.example/")
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:scene", args=[night.pk])  # no open redirect
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS


def test_controls_need_post_and_csrf(film):
    _, _, night = film
    shot = night.shots.get()
    client = user_client(force=True)
    assert client.get(reverse("dashboard:force-status", args=[shot.pk])).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(User.objects.get(username="super"))
    assert _force(strict, shot, Status.FINAL_DELIVERY, "no token").status_code == 403
    shot.refresh_from_db()
    assert shot.status == Status.AE_IN_PROGRESS


@pytest.mark.django_db
def test_release_a_quarantined_render(django_capture_on_commit_callbacks):
    render = make_render("X_v001.mov", state=Render.State.QUARANTINED, reason="no shot")
    client = user_client(perms=("ingest.change_render",))
    url = reverse("dashboard:release-render", args=[render.pk])
    assert user_client("viewer", staff=False).post(url).status_code == 302
    assert user_client("staff-only").post(url).status_code == 403  # the admin's permission is needed
    render.refresh_from_db()
    assert render.state == Render.State.QUARANTINED
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, follow=True)
    assert "released" in response.content.decode()
    render.refresh_from_db()
    assert render.state == Render.State.STABLE
    assert LiveEvent.objects.get().payload == {
        "render_id": render.pk,
        "path": "X_v001.mov",
        "state": "stable",
        "shot_id": None,
        "shot": "",
        "version": None,
        "reason": "",
    }
    again = client.post(url, follow=True)
    assert "nothing to release" in again.content.decode()
    assert LiveEvent.objects.count() == 1


@pytest.mark.django_db
def test_renders_panel_lists_queue_and_quarantine():
    for i, state in enumerate(
        [Render.State.QUEUED, Render.State.QUEUED, Render.State.QUARANTINED, Render.State.STABLE]
    ):
        make_render(f"r{i}.mov", state=state, reason=f"why {i}")
    url = reverse("dashboard:panel-renders")
    html = user_client(perms=("ingest.change_render",)).get(url).content.decode()
    assert 'data-render-count="queued">2<' in html and 'data-render-count="quarantined">1<' in html
    assert 'data-render-count="settling">1<' in html
    assert "why 2" in html and ">Release</button>" in html
    # Staff without the admin's permission see the render, not a control that would answer 403.
    html = user_client("staff-only").get(url).content.decode()
    assert "why 2" in html and ">Release</button>" not in html


@pytest.mark.django_db
def test_a_quarantined_name_that_cannot_be_shown_is_shown_escaped(django_capture_on_commit_callbacks):
    raw = "renders/<b>UNDLM_00209_v012\udcff\n.mov"  # a byte that is not UTF-8, a newline, markup
    config = WatchConfig(Path("/mnt/lucid"), 60, [], frozenset({"mov"}), 2)
    with django_capture_on_commit_callbacks(execute=True):
        render_quarantine_path(
            config=config, path=raw, reason=unsafe_name_reason(raw.rpartition("/")[2]), now=timezone.now()
        )
    html = user_client().get(reverse("dashboard:panel-renders")).content.decode()
    shown = r"renders/&lt;b&gt;UNDLM_00209_v012\xff\n.mov"
    shown_file = shown.removeprefix("renders/")
    assert f'<td class="path"><span class="dir">renders/</span><span class="file">{shown_file}</span></td>' in html
    assert r"not valid UTF-8: &lt;b&gt;UNDLM_00209_v012\xff\n.mov" in html
    payload = LiveEvent.objects.get().payload
    assert payload["path"] == r"renders/<b>UNDLM_00209_v012\xff\n.mov"
    json.dumps(payload, ensure_ascii=False).encode("utf-8")  # strict JSON for the browser


# --- health --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_heartbeats_go_stale_after_three_scan_intervals(settings):
    settings.POSTFLOW_SCAN_INTERVAL_SECONDS = 30
    now = timezone.now()
    WatcherHeartbeat.objects.create(name="fresh", beat_at=now - timedelta(seconds=80))
    WatcherHeartbeat.objects.create(name="stale", beat_at=now - timedelta(seconds=100))
    WatcherHeartbeat.objects.create(name="sick", beat_at=now, healthy=False, detail="mount gone (ESTALE)")
    beats = {hb.name: hb for hb in selectors.heartbeats(now)}
    assert beats["fresh"].ok
    assert not beats["stale"].ok and "no heartbeat for 100 s" in beats["stale"].detail
    assert not beats["sick"].ok and beats["sick"].detail == "mount gone (ESTALE)"
    html = user_client().get(reverse("dashboard:panel-health")).content.decode()
    assert "mount gone (ESTALE)" in html


@pytest.mark.django_db
def test_no_heartbeat_says_so():
    html = user_client().get(reverse("dashboard:panel-health")).content.decode()
    assert "No watcher has reported" in html


@pytest.mark.django_db
def test_frameio_state():
    now = timezone.now()
    assert selectors.frameio_state(now).summary == "not connected"
    conn = FrameioConnection.objects.create(
        access_token_enc="x", connected_as="Ana (ana@example.com)", project_name="UNDLM"
    )
    state = selectors.frameio_state(now)
    assert (state.level, state.summary, state.detail) == ("ok", "connected as Ana (ana@example.com)", "UNDLM")
    conn.refresh_token_enc, conn.refresh_token_issued_at = "y", now - timedelta(days=13)
    conn.save()
    state = selectors.frameio_state(now)
    assert state.level == "warn" and "sign-in expires in 24 h" in state.detail
    conn.needs_reauth, conn.reauth_reason = True, "refresh token rejected (invalid_grant)"
    conn.save()
    state = selectors.frameio_state(now)
    assert (state.level, state.detail) == ("bad", "refresh token rejected (invalid_grant)")
    assert "invalid_grant" in user_client().get(INDEX).content.decode()


@pytest.mark.django_db
def test_an_empty_install_says_what_to_do():
    response = user_client().get(INDEX)
    assert response.status_code == 200
    assert "manage.py import_shots" in response.content.decode()
    assert response.context["live"]["scenes"] == {}


def _queued_render(path: str = "UNDLM_00042_v003.mov", **upload_fields) -> Render:
    render = make_render(path, state=Render.State.QUEUED)
    if upload_fields:
        Upload.objects.create(render=render, **upload_fields)
    return render


@pytest.mark.django_db
def test_the_queue_shows_upload_progress_and_failures_first():
    _queued_render("a_v001.mov")  # no upload row yet
    _queued_render("b_v001.mov", state=Upload.State.UPLOADING, bytes_total=200, bytes_done=50)
    failed = _queued_render("c_v001.mov", state=Upload.State.FAILED, last_error="HTTP 503 after 5 attempts", attempts=5)
    queue = selectors.render_queue()
    assert [r.path for r in queue.queued] == ["c_v001.mov", "a_v001.mov", "b_v001.mov"]
    assert (queue.uploads["uploading"], queue.uploads["failed"]) == (1, 1)
    url = reverse("dashboard:panel-renders")
    html = user_client(perms=("frameio.change_upload",)).get(url).content.decode()
    assert "waiting for the upload job" in html
    assert "width:25%" in html and "50\xa0bytes / 200\xa0bytes" in html
    assert "HTTP 503 after 5 attempts" in html
    assert reverse("dashboard:retry-upload", args=[failed.upload.pk]) in html
    assert html.count(">Retry</button>") == 1
    html = user_client("staff-only").get(url).content.decode()
    assert "HTTP 503 after 5 attempts" in html and ">Retry</button>" not in html


@pytest.mark.django_db
def test_retry_a_failed_upload(django_capture_on_commit_callbacks):
    render = _queued_render(state=Upload.State.FAILED, last_error="HTTP 503", attempts=5)
    url = reverse("dashboard:retry-upload", args=[render.upload.pk])
    assert user_client("viewer", staff=False).post(url).status_code == 302
    assert user_client("staff-only").post(url).status_code == 403  # the admin's permission is needed
    client = user_client(perms=("frameio.change_upload",))
    assert client.get(url).status_code == 405
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, follow=True)
    assert "upload queued again" in response.content.decode()
    assert len(callbacks) == 1  # the job is enqueued once the retry committed
    render.upload.refresh_from_db()
    assert (render.upload.state, render.upload.attempts, render.upload.last_error) == (Upload.State.QUEUED, 0, "")
    assert "nothing to retry" in client.post(url, follow=True).content.decode()


# --- review notes from Frame.io ---------------------------------------------------------------


@pytest.fixture
def noted(film):
    """The NIGHT shot placed at 10:00:00:00 (25 fps), with notes: two open, one completed, one deleted."""
    _project, _day, night = film
    shot = night.shots.get()
    shot.timeline_in = 900_000
    shot.save()
    now = timezone.now()
    old = make_review_note(shot, text="older open note", frame=1, commented_at=now - timedelta(hours=3))
    done = make_review_note(shot, text="grain ok", completed_at=now, commented_at=now - timedelta(hours=2))
    gone = make_review_note(shot, text="deleted in Frame.io", deleted_at=now, commented_at=now - timedelta(minutes=30))
    new = make_review_note(shot, version=2, text="sky too warm", frame=13, commented_at=now - timedelta(hours=1))
    return shot, {"old": old, "done": done, "gone": gone, "new": new}


def test_index_lists_the_newest_review_notes_without_deleted_ones(noted):
    shot, notes = noted
    other = make_shot(make_project(code="OTH"), timeline_in=0)
    make_review_note(other, text="another production")
    response = user_client().get(INDEX)
    listed = response.context["notes"]
    assert [n.text for n in listed] == ["sky too warm", "grain ok", "older open note"]
    html = response.content.decode()
    assert "deleted in Frame.io" not in html and "another production" not in html
    new = notes["new"]
    row = html[html.index(f'data-note-id="{new.pk}"') :]
    row = row[: row.index("</tr>")]
    assert f'href="{reverse("dashboard:shot", args=[shot.pk])}"' in row and f">{shot.nomenclature}<" in row
    assert ">v002<" in row
    assert ">10:00:00:12" in row  # record: the shot's record in + 12 frames
    assert ">00:00:00:12<" in row  # render: frame 13 from 00:00:00:00
    assert "Ana Réa" in row and "sky too warm" in row
    assert "completed" not in row and "fps mismatch" not in row
    done = html[html.index(f'data-note-id="{notes["done"].pk}"') :]
    assert '<span class="badge ok">completed</span>' in done[: done.index("</tr>")]
    assert response.context["live"]["notes_limit"] == selectors.LIST_LIMIT


def test_index_keeps_the_newest_twenty_notes_and_flags_an_fps_mismatch(noted):
    shot, _ = noted
    now = timezone.now()
    for i in range(25):
        make_review_note(shot, text=f"note {i}", commented_at=now + timedelta(seconds=i))
    mismatch = make_review_note(
        shot, text="at 23.976", render_fps=24000 / 1001, commented_at=now + timedelta(minutes=1)
    )
    notes = selectors.review_notes(shot.project)
    assert len(notes) == selectors.LIST_LIMIT
    assert [n.text for n in notes[:3]] == ["at 23.976", "note 24", "note 23"]
    html = user_client().get(INDEX).content.decode()
    row = html[html.index(f'data-note-id="{mismatch.pk}"') :]
    assert ">fps mismatch</span>" in row[: row.index("</tr>")]
    assert html.count("data-note-id=") == selectors.LIST_LIMIT


def test_the_index_without_notes_says_so(film):
    assert "No review note from Frame.io yet." in user_client().get(INDEX).content.decode()


def test_scene_page_shows_the_open_notes_of_each_shot(noted):
    shot, notes = noted
    response = user_client().get(reverse("dashboard:scene", args=[shot.scene_id]))
    [row] = response.context["shots"]
    assert row.open_notes == 2 and row.latest_note == notes["new"]
    html = response.content.decode()
    cell = html[html.index(f'data-panel="notes-{shot.pk}"') :]
    cell = cell[: cell.index("</td>")]
    assert 'data-url="' + reverse("dashboard:shot-notes", args=[shot.pk]) + '"' in cell
    assert ">2 open review notes<" in cell
    assert ">10:00:00:12<" in cell and "sky too warm" in cell
    for text in ("older open note", "grain ok", "deleted in Frame.io"):
        assert text not in html
    assert "retirer la perche" in html  # the sheet's notes stay, above


def test_scene_page_shows_nothing_for_a_shot_without_open_notes(film):
    _, day, _ = film
    shot = day.shots.first()
    make_review_note(shot, completed_at=timezone.now())
    response = user_client().get(reverse("dashboard:scene", args=[day.pk]))
    assert all(s.open_notes == 0 and s.latest_note is None for s in response.context["shots"])
    assert "open review note" not in response.content.decode()


def test_the_shot_notes_fragment(noted):
    shot, notes = noted
    url = reverse("dashboard:shot-notes", args=[shot.pk])
    assert user_client("viewer", staff=False).get(url).status_code == 302
    client = user_client()
    html = client.get(url).content.decode()
    assert ">2 open review notes<" in html and "sky too warm" in html
    ReviewNote.objects.filter(pk=notes["new"].pk).update(completed_at=timezone.now())
    html = client.get(url).content.decode()
    assert ">1 open review note<" in html and "older open note" in html and ">10:00:00:00<" in html
    assert client.get(reverse("dashboard:shot-notes", args=[999])).status_code == 404


def test_note_text_from_frameio_is_escaped(noted):
    shot, _ = noted
    make_review_note(shot, text="<script>alert(1)</script>", author='<img src=x onerror="alert(2)">')
    client = user_client()
    pages = [INDEX, reverse("dashboard:scene", args=[shot.scene_id]), reverse("dashboard:shot-notes", args=[shot.pk])]
    for url in pages:
        html = client.get(url).content.decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html, url


def test_the_review_note_event_carries_what_the_page_draws(noted, django_capture_on_commit_callbacks):
    """dashboard.js draws a row from the payload alone: every field it reads is there."""
    shot, notes = noted
    note = ReviewNote.objects.select_related("shot__project").get(pk=notes["new"].pk)
    with django_capture_on_commit_callbacks(execute=True):
        review_notes._publish(note, "created")
    event = LiveEvent.objects.get()
    assert event.kind == "review.note"
    expected = {"action": "created", "note_id": note.pk, "shot_id": shot.pk, "shot": str(shot), "version": 2}
    expected |= {"project_id": shot.project_id, "scene_id": shot.scene_id, "text": "sky too warm"}
    expected |= {"author": "Ana Réa", "render_timecode": "00:00:00:12", "record_timecode": "10:00:00:12"}
    expected |= {"fps_mismatch": False, "completed": False, "deleted": False}
    assert expected.items() <= event.payload.items()
