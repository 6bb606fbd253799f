"""The dashboard's pictures on the server side: the cut's payload, the charts' series (and their query
counts), thumbnails served or asked for, and the player's stream (ranges, permission, the ledger check)."""

import os
from datetime import timedelta
from fractions import Fraction
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from alerts.models import Metric
from dashboard import pictures
from dashboard.playback import byte_range, playable_file
from ingest.models import Render, ReviewProxy
from ingest.thumbnails import thumbnail_write
from shots.models import ShotEvent
from shots.services import shot_transition
from shots.workflow import Status
from tests.dashboard.test_dashboard import user_client
from tests.factories import make_project, make_render, make_render_of_file, make_review_note, make_scene, make_shot
from tests.ingest.media import make_clip

pytestmark = pytest.mark.django_db
WATCH = ("ingest.view_render",)


@pytest.fixture(autouse=True)
def thumbnails_folder(settings, tmp_path):
    settings.POSTFLOW_THUMBNAILS_PATH = tmp_path / "thumbnails"
    cache.clear()


def make_webm(path, *, frames=50, fps=25):
    """A real VP9 WebM (what a browser plays as it is), 64x36."""
    return make_clip(path, frames=frames, fps=Fraction(fps), codec="libvpx-vp9")


def body(response) -> bytes:
    """A streamed response's bytes: its content is an async iterator (daphne streams it), read here to the end."""

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)()


def verified_file(path, shot=None, *, version=1, codec="vp9", state=Render.State.UPLOADED, fps=25.0, frames=50):
    """A ledger row for a real file, as verification leaves it (inode, size, mtime, checksum, media)."""
    return make_render_of_file(
        path,
        state=state,
        shot=shot,
        version=version,
        checksum=f"{version:032x}",
        media={"codec": codec, "fps": fps, "frames": frames},
    )


@pytest.fixture
def film():
    project = make_project(code="UNDLM")
    day, night = make_scene(project, "DAY"), make_scene(project, "NIGHT")
    # Made out of record order: the strip follows timeline_in, not creation.
    b = make_shot(project, scene=night, timeline_in=900_200, duration=48, status=Status.AE_IN_PROGRESS)
    a = make_shot(project, scene=day, timeline_in=900_000, duration=100, status=Status.REVIEW_UPLOADED)
    c = make_shot(project, scene=day, timeline_in=900_100, duration=12, omitted=True)
    return SimpleNamespace(project=project, a=a, b=b, c=c)


# --- the cut ---------------------------------------------------------------------------------------


def test_the_cut_payload_is_every_shot_in_record_order_in_three_queries(film, django_assert_num_queries):
    project = film.project
    a = film.a
    c = film.c
    b = film.b
    make_review_note(a, version=2)  # an uploaded v002, one open note
    make_review_note(a, version=2, completed_at=timezone.now())
    make_render("UNDLM_00002_v007.mov", state=Render.State.QUARANTINED, shot=a, version=7)  # not a version
    with django_assert_num_queries(4):  # versions, notes, scenes, shots
        data = pictures.cut_strip(project)
    statuses = data["statuses"]
    rows = [[row[0], row[1], row[2], statuses[row[3]], *row[4:]] for row in data["shots"]]
    assert rows == [
        [a.pk, a.scene_id, a.nomenclature, "review_uploaded", 100, 0, 2, 1],
        [c.pk, c.scene_id, c.nomenclature, "pending", 12, 1, 0, 0],
        [b.pk, b.scene_id, b.nomenclature, "ae_in_progress", 48, 0, 0, 0],
    ]
    assert data["scenes"] == {a.scene_id: [1, "DAY"], b.scene_id: [2, "NIGHT"]}
    response = user_client().get(reverse("dashboard:cut"))
    assert response.status_code == 200 and len(response.json()["shots"]) == 3


def test_the_pages_carry_the_strip_and_the_charts_but_not_their_data(film):
    b = film.b
    client = user_client()
    index = client.get(reverse("dashboard:index")).content.decode()
    assert f'data-url="{reverse("dashboard:cut")}"' in index and f'data-url="{reverse("dashboard:charts")}"' in index
    scene = client.get(reverse("dashboard:scene", args=[b.scene_id])).content.decode()
    assert f'data-zoom="{b.scene_id}"' in scene  # the scene page zooms on its own scene


# --- charts ----------------------------------------------------------------------------------------


def test_the_charts_come_from_the_rows_in_seven_queries(film, django_assert_num_queries):
    a = film.a
    b = film.b
    shot_transition(shot_id=b.pk, to_status=Status.AE_COMPLETED, actor="t")
    shot_transition(shot_id=b.pk, to_status=Status.EBSYNTH_READY, actor="t")
    two_days_ago = timezone.now() - timedelta(days=2)
    ShotEvent.objects.filter(shot=b, to_status=Status.EBSYNTH_READY).update(created_at=two_days_ago)
    make_render("ok.mov", state=Render.State.VERIFIED, verified_at=timezone.now())
    make_render("bad.mov", state=Render.State.QUARANTINED)
    Metric.objects.create(name=Metric.UPLOAD, at=timezone.now(), value=40e6, amount=10)  # 4 MB/s
    Metric.objects.create(name=Metric.UPLOAD, at=timezone.now(), value=20e6, amount=10)  # the hour: 3 MB/s
    make_review_note(a, commented_at=timezone.now() - timedelta(days=3))  # open since 3 days ago
    days_ago = [timezone.now() - timedelta(days=n) for n in range(6)]
    make_review_note(a, commented_at=days_ago[5], completed_at=days_ago[1])
    with django_assert_num_queries(7):  # moves, verified, quarantined, uploads, open notes now, opened, closed
        data = pictures.charts()
    assert len(data["days"]) == 30 and data["days"][-1] == timezone.localdate().isoformat()
    assert data["moves"]["after_effects"][-1] == 1 and data["moves"]["ebsynth"][-3] == 1
    assert sum(sum(series) for series in data["moves"].values()) == 2
    assert (data["renders"]["verified"][-1], data["renders"]["quarantined"][-1]) == (1, 1)
    assert data["throughput"]["mbps"][-1] == 3.0 and len(data["throughput"]["hours"]) == 48
    # open at the end of each day: 0 before day -5, 1 from day -5, 2 from day -3, 1 again from day -1
    assert data["open_notes"][-7:] == [0, 1, 1, 2, 2, 1, 1]
    assert user_client().get(reverse("dashboard:charts")).json()["open_notes"][-1] == 1


# --- thumbnails ------------------------------------------------------------------------------------


def test_a_thumbnail_is_served_or_asked_for_once_and_needs_the_permission(
    film, tmp_path, enqueued, django_capture_on_commit_callbacks
):
    a = film.a
    render = verified_file(make_webm(tmp_path / "mount" / "UNDLM_00002_v001.webm"), a)
    url = reverse("dashboard:thumbnail", args=[render.pk])
    assert user_client("staff-only").get(url).status_code == 403
    client = user_client(perms=WATCH)
    with django_capture_on_commit_callbacks(execute=True):
        missing = client.get(url)
        client.get(url)
    assert missing.status_code == 404 and missing["Cache-Control"] == "no-store"
    assert enqueued == [("ingest.tasks.make_thumbnail", render.pk)]  # asked once, however often the page is seen
    thumbnail_write(render)
    served = client.get(url)
    assert served.status_code == 200 and served["Content-Type"] == "image/webp" and served.content[8:12] == b"WEBP"
    scene = client.get(reverse("dashboard:scene", args=[a.scene_id])).content.decode()
    assert f'src="{url}?v={render.checksum[:12]}"' in scene  # the shot's row shows its latest version's


# --- the player ------------------------------------------------------------------------------------


def test_the_stream_answers_ranges_from_the_verified_file(film, tmp_path):
    a = film.a
    path = make_webm(tmp_path / "mount" / "UNDLM_00002_v001.webm")
    render = verified_file(path, a)
    data = path.read_bytes()
    url = reverse("dashboard:play", args=[render.pk])
    assert user_client("staff-only").get(url).status_code == 403
    client = user_client(perms=WATCH)
    whole = client.get(url)
    assert (whole.status_code, whole["Content-Type"], whole["Accept-Ranges"]) == (200, "video/webm", "bytes")
    assert body(whole) == data
    part = client.get(url, HTTP_RANGE="bytes=100-299")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-299/{len(data)}"
    assert body(part) == data[100:300] and part["Content-Length"] == "200"
    tail = client.get(url, HTTP_RANGE="bytes=-10")
    assert body(tail) == data[-10:]
    refused = client.get(url, HTTP_RANGE=f"bytes={len(data)}-")
    assert refused.status_code == 416 and refused["Content-Range"] == f"bytes */{len(data)}"


def test_a_file_swapped_for_a_link_or_changed_is_not_streamed(film, tmp_path):
    a = film.a
    path = make_webm(tmp_path / "mount" / "UNDLM_00002_v001.webm")
    render = verified_file(path, a)
    secret = tmp_path / "secret.key"
    secret.write_bytes(b"k" * path.stat().st_size)
    client = user_client(perms=WATCH)
    url = reverse("dashboard:play", args=[render.pk])
    path.unlink()
    os.symlink(secret, path)
    assert client.get(url).status_code == 409
    path.unlink()
    make_webm(path, frames=10)  # new content, not verified yet
    assert client.get(url).status_code == 409


def test_what_plays_and_why_not(film, tmp_path):
    a = film.a
    webm = verified_file(make_webm(tmp_path / "m" / "a_v001.webm"), a, version=1)
    prores = make_render("a_v002.mov", state=Render.State.UPLOADED, shot=a, version=2, media={"codec": "prores"})
    h264 = make_render("a_v003.mp4", state=Render.State.VERIFIED, shot=a, version=3, media={"codec": "h264"})
    sequence = make_render("a_v004.####.exr", state=Render.State.VERIFIED, kind=Render.Kind.SEQUENCE, shot=a, version=4)
    settling = make_render("a_v005.mp4", state=Render.State.STABLE, media={"codec": "h264"})
    assert (playable_file(webm).content_type, playable_file(webm).problem) == ("video/webm", "")
    assert playable_file(h264).content_type == "video/mp4"
    assert playable_file(prores).problem == "prores in MOV the browser cannot play, and no review proxy"
    assert playable_file(sequence).problem == "an image sequence the browser cannot play, and no review proxy"
    assert playable_file(settling).problem.startswith("not verified")
    client = user_client(perms=WATCH)
    assert client.get(reverse("dashboard:play", args=[prores.pk])).status_code == 404
    html = client.get(reverse("dashboard:shot", args=[a.pk])).content.decode()
    assert f'src="{reverse("dashboard:play", args=[webm.pk])}"' in html
    assert "Not playable here: prores in MOV the browser cannot play, and no review proxy." in html


def test_a_render_the_browser_cannot_play_plays_its_ready_review_proxy(film, tmp_path):
    a = film.a
    frames = tmp_path / "mount" / "renders"
    sequence = make_render(
        "renders/UNDLM_00002_v004.####.exr",
        root=str(tmp_path / "mount"),
        state=Render.State.VERIFIED,
        kind=Render.Kind.SEQUENCE,
        shot=a,
        version=4,
        checksum="4" * 32,
        media={"fps": 25.0, "frames": 50},
    )
    proxy_file = make_clip(frames / ".postflow-proxies" / "UNDLM_00002_v004.mp4", codec="libx264")
    stat = proxy_file.stat()
    proxy = ReviewProxy.objects.create(
        render=sequence,
        state=ReviewProxy.State.ENCODING,
        source_checksum=sequence.checksum,
        requested_at=timezone.now(),
    )
    client = user_client(perms=WATCH)
    url = reverse("dashboard:play", args=[sequence.pk])
    assert client.get(url).status_code == 404
    html = client.get(reverse("dashboard:shot", args=[a.pk])).content.decode()
    assert (
        "Not playable here: an image sequence the browser cannot play; its review proxy is not ready (encoding)."
        in html
    )
    ReviewProxy.objects.filter(pk=proxy.pk).update(
        state=ReviewProxy.State.READY,
        path=str(proxy_file),
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        inode=stat.st_ino,
    )
    played = client.get(url, HTTP_RANGE="bytes=0-99")
    assert (played.status_code, played["Content-Type"]) == (206, "video/mp4")
    assert body(played) == proxy_file.read_bytes()[:100]
    html = client.get(reverse("dashboard:shot", args=[a.pk])).content.decode()
    assert f'src="{url}"' in html and ">review proxy</span>" in html
    ReviewProxy.objects.filter(pk=proxy.pk).update(source_checksum="5" * 32)  # made from older content
    assert playable_file(Render.objects.select_related("proxy").get(pk=sequence.pk)).problem.endswith("(out of date)")


def test_the_shot_page_puts_each_note_on_the_timeline(film, tmp_path):
    a = film.a
    render = verified_file(make_webm(tmp_path / "m" / "UNDLM_00002_v001.webm"), a)
    note = make_review_note(a, frame=26, text="grain")  # frame 26 of 50: half-way
    html = user_client(perms=WATCH).get(reverse("dashboard:shot", args=[a.pk])).content.decode()
    assert f'style="left:50.000%" data-seek="26" data-note-marker="{note.pk}"' in html
    assert f'data-player="{render.pk}" data-fps="25.0" data-frames="50"' in html


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 99)),
        ("bytes=10-20", (10, 20)),
        ("bytes=90-500", (90, 99)),
        ("bytes=-5", (95, 99)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_byte_ranges(header, expected):
    assert byte_range(header, 100) == expected
