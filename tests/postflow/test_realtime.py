"""Live updates: publish on commit, the consumer (auth, origin, fan-out, catch-up, no duplicates),
the relay across processes, and the direct mode of a cross-process channel layer."""

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from functools import wraps
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from dashboard import consumers
from dashboard.consumers import CLOSE_FORBIDDEN
from postflow import realtime
from postflow.lib.dburl import database_url
from postflow.models import LiveEvent
from postflow.routing import websocket_application
from shots.models import ShotEvent
from shots.services import ShotStatusError, shot_force_status, shot_transition
from shots.workflow import Status
from tests.factories import make_project, make_scene, make_shot

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = b"http://127.0.0.1:8000"


def run_async(test):
    """Run an async test body on a fresh event loop (no pytest-asyncio needed)."""

    @wraps(test)
    def wrapper(*args, **kwargs):
        return async_to_sync(test)(*args, **kwargs)

    return wrapper


@pytest.fixture(autouse=True)
def _fresh_layer(settings):
    settings.POSTFLOW_LIVE_POLL_SECONDS = 0.05
    channel_layers.backends.clear()  # the in-memory layer's queues belong to one event loop
    yield
    channel_layers.backends.clear()


def session_cookie(username: str, *, staff: bool = True) -> bytes:
    user = User.objects.create_user(username, password="x", is_staff=staff)
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(cookie: bytes | None, origin: bytes | None = ORIGIN) -> WebsocketCommunicator:
    headers = [(b"host", b"127.0.0.1:8000")]
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(websocket_application, "/ws/dashboard/", headers=headers)


async def open_socket(cookie: bytes, last_id: int) -> WebsocketCommunicator:
    socket = communicator(cookie)
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "resume", "last_id": last_id})
    return socket


async def receive_until_ready(socket: WebsocketCommunicator) -> list[dict]:
    events = []
    while True:
        message = await socket.receive_json_from(timeout=5)
        if message["type"] == "ready":
            return events
        events.append(message)


def record(kind: str = "test", **payload) -> LiveEvent:
    """An event row as publish writes it (outside a transaction, on_commit runs at once)."""
    realtime.publish(kind, payload)
    return LiveEvent.objects.order_by("-id").first()


# --- publish -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_publish_writes_only_after_commit():
    with transaction.atomic():
        realtime.publish("test", {"n": 1})
        assert not LiveEvent.objects.exists()
    assert list(LiveEvent.objects.values_list("kind", "payload")) == [("test", {"n": 1})]
    with pytest.raises(RuntimeError), transaction.atomic():
        realtime.publish("test", {"n": 2})
        raise RuntimeError("rolled back")
    assert LiveEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_publish_refuses_what_is_not_json():
    with pytest.raises(TypeError):
        realtime.publish("test", {"when": object()})
    with pytest.raises(ValueError, match="kind"):
        realtime.publish("", {})
    with pytest.raises(UnicodeEncodeError):  # a byte of a file name that is not UTF-8, as os.fsdecode gives it
        realtime.publish("test", {"path": "UNDLM_00209_v012\udcff.mov"})
    with pytest.raises(ValueError, match="not JSON compliant"):
        realtime.publish("test", {"fps": float("nan")})
    assert not LiveEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_every_status_change_publishes_one_event_and_a_failed_one_none():
    shot = make_shot(status=Status.PENDING)
    shot_transition(shot_id=shot.pk, to_status=Status.SOURCES_VERIFIED, actor="user:ana", reason="ok")
    shot_force_status(shot_id=shot.pk, to_status=Status.AE_COMPLETED, actor="user:ana", reason="skip")
    with pytest.raises(ShotStatusError):
        shot_force_status(shot_id=shot.pk, to_status=Status.AE_COMPLETED, actor="user:ana", reason="again")
    events = list(LiveEvent.objects.all())
    assert [e.kind for e in events] == ["shot.status", "shot.status"]
    first, second = (e.payload for e in events)
    shot_events = list(ShotEvent.objects.order_by("id"))
    assert first == {
        "event_id": shot_events[0].pk,
        "shot_id": shot.pk,
        "shot": str(shot),
        "project_id": shot.project_id,
        "scene_id": shot.scene_id,
        "omitted": False,
        "kind": "transition",
        "from": "pending",
        "to": "sources_verified",
        "actor": "user:ana",
        "reason": "ok",
    }
    assert (second["kind"], second["from"], second["to"]) == ("override", "sources_verified", "ae_completed")


@pytest.mark.django_db(transaction=True)
def test_old_events_are_pruned(settings):
    settings.POSTFLOW_LIVE_EVENT_RETENTION_HOURS = 1
    old, new = record(), record()
    LiveEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert realtime.prune() == 1
    assert list(LiveEvent.objects.values_list("id", flat=True)) == [new.pk]


# --- the consumer: who may connect -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@run_async
async def test_anonymous_is_refused():
    connected, code = await communicator(None).connect()
    assert not connected and code == CLOSE_FORBIDDEN


@pytest.mark.django_db(transaction=True)
@run_async
async def test_non_staff_is_refused():
    cookie = await database_sync_to_async(session_cookie)("viewer", staff=False)
    connected, code = await communicator(cookie).connect()
    assert not connected and code == CLOSE_FORBIDDEN


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("origin", [b"http://evil.example", b"null", None])
@run_async
async def test_bad_or_missing_origin_is_refused(origin):
    cookie = await database_sync_to_async(session_cookie)("super")
    connected, _ = await communicator(cookie, origin=origin).connect()
    assert not connected


@pytest.mark.django_db(transaction=True)
@run_async
async def test_staff_is_accepted_and_answered():
    cookie = await database_sync_to_async(session_cookie)("super")
    socket = await open_socket(cookie, 0)
    assert await receive_until_ready(socket) == []
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    await socket.disconnect()


# --- fan-out, catch-up, no duplicates ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@run_async
async def test_an_event_fans_out_to_every_open_dashboard():
    cookie = await database_sync_to_async(session_cookie)("super")
    first, second = await open_socket(cookie, 0), await open_socket(cookie, 0)
    for socket in (first, second):
        assert await receive_until_ready(socket) == []
    event = await database_sync_to_async(record)("shot.status", shot="X")
    for socket in (first, second):
        message = await socket.receive_json_from(timeout=5)
        assert (message["type"], message["id"], message["kind"]) == ("event", event.pk, "shot.status")
        assert message["payload"] == {"shot": "X"}
        assert await socket.receive_nothing(timeout=0.3)
    await first.disconnect()
    await second.disconnect()


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_reconnecting_browser_catches_up_from_its_last_id():
    cookie = await database_sync_to_async(session_cookie)("super")
    events = [await database_sync_to_async(record)(n=n) for n in range(4)]
    socket = await open_socket(cookie, events[1].pk)
    replayed = await receive_until_ready(socket)
    assert [m["id"] for m in replayed] == [events[2].pk, events[3].pk]
    assert [m["payload"]["n"] for m in replayed] == [2, 3]
    later = await database_sync_to_async(record)(n=4)
    assert (await socket.receive_json_from(timeout=5))["id"] == later.pk
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@run_async
async def test_no_duplicates_and_gaps_filled_from_the_table():
    cookie = await database_sync_to_async(session_cookie)("super")
    events = [(await database_sync_to_async(record)(n=n)).as_message() for n in range(6)]
    socket = await open_socket(cookie, events[0]["id"])
    assert [m["id"] for m in await receive_until_ready(socket)] == [e["id"] for e in events[1:]]
    layer = get_channel_layer()
    # A relay batch that overlaps what the socket already sent: nothing is sent twice.
    await layer.group_send(realtime.GROUP, realtime.group_message(events[2:]))
    assert await socket.receive_nothing(timeout=0.3)
    # A newer event arrives before the one in between (two direct senders raced): the gap is filled.
    newer = [(await database_sync_to_async(realtime._record)("test", {"n": n})).as_message() for n in (6, 7)]
    await layer.group_send(realtime.GROUP, realtime.group_message(newer[1:]))
    received = [await socket.receive_json_from(timeout=5) for _ in range(2)]
    assert [m["id"] for m in received] == [newer[0]["id"], newer[1]["id"]]
    # The relay then sends both again: dropped.
    await asyncio.sleep(0.3)
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_resume_is_replaced_by_a_reload_when_the_log_cannot_replay_it(settings):
    cookie = await database_sync_to_async(session_cookie)("super")
    events = [await database_sync_to_async(record)(n=n) for n in range(3)]
    socket = await open_socket(cookie, events[-1].pk + 50)  # the log restarted (a new database)
    message = await socket.receive_json_from(timeout=5)
    assert message == {"type": "reload", "reason": "the event log restarted", "last_id": events[-1].pk}
    await socket.disconnect()

    await database_sync_to_async(LiveEvent.objects.filter(pk__lt=events[2].pk).delete)()
    socket = await open_socket(cookie, events[0].pk)  # it missed a pruned event
    assert (await socket.receive_json_from(timeout=5))["reason"] == "missed events were pruned"
    await socket.disconnect()

    await database_sync_to_async(record)(n=3)
    original, realtime.CATCH_UP_LIMIT = realtime.CATCH_UP_LIMIT, 1
    try:
        socket = await open_socket(cookie, events[1].pk)  # missed more than can be replayed
        assert (await socket.receive_json_from(timeout=5))["reason"] == "more than 1 events missed"
    finally:
        realtime.CATCH_UP_LIMIT = original
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@override_settings(POSTFLOW_LIVE_RELAY=True)  # the embedded mode's relay, whatever the channel layer
@run_async
async def test_the_relay_runs_while_someone_listens():
    cookie = await database_sync_to_async(session_cookie)("super")
    socket = await open_socket(cookie, 0)
    await receive_until_ready(socket)
    relay = realtime.relay()
    assert relay.subscribers == 1 and relay.task is not None and not relay.task.done()
    await socket.disconnect()
    assert relay.subscribers == 0 and relay.task is None


# --- across processes ----------------------------------------------------------------------------


def _subprocess_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "postflow.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
    }


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_change_made_by_another_process_reaches_the_socket():
    def setup():
        project = make_project(code="TST")
        shot = make_shot(project, scene=make_scene(project, "DAY"), status=Status.PENDING)
        return shot, session_cookie("super")

    shot, cookie = await database_sync_to_async(setup)()
    socket = await open_socket(cookie, 0)
    assert await receive_until_ready(socket) == []
    command = [sys.executable, "manage.py", "shot_status", shot.nomenclature, "sources_verified", "--project", "TST"]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=_subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    # How fast (the issue asks for 1 s) is measured by bench/realtime_latency.py, not by a wall-clock
    # bound here: the shared CI machine would make it flaky.
    message = await socket.receive_json_from(timeout=10)
    assert message["kind"] == "shot.status"
    assert (message["payload"]["shot_id"], message["payload"]["to"]) == (shot.pk, "sources_verified")
    assert message["payload"]["actor"].startswith("shell:")
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@run_async
async def test_direct_mode_sends_from_the_publishing_process(settings):
    settings.POSTFLOW_LIVE_RELAY = False  # as with a channel layer that crosses processes (Redis)
    cookie = await database_sync_to_async(session_cookie)("super")
    socket = await open_socket(cookie, 0)
    await receive_until_ready(socket)
    assert realtime.relay().task is None  # nothing polls
    event = await database_sync_to_async(record)(n=1)
    message = await socket.receive_json_from(timeout=5)
    assert message["id"] == event.pk
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_ping_sends_the_newest_events_the_channel_dropped(settings):
    settings.POSTFLOW_LIVE_RELAY = False  # no relay: only the direct sends, which a full channel drops
    cookie = await database_sync_to_async(session_cookie)("super")
    socket = await open_socket(cookie, 0)
    await receive_until_ready(socket)

    def recorded(seconds_ago: float) -> LiveEvent:
        """A row whose message never reached the socket (channels_redis drops it when full)."""
        event = LiveEvent.objects.create(kind="test", payload={})
        LiveEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(seconds=seconds_ago))
        return event

    dropped = await database_sync_to_async(recorded)(10)
    young = await database_sync_to_async(recorded)(0)  # may still be on its way: left to the layer
    assert await socket.receive_nothing(timeout=0.2)
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=5))["id"] == dropped.pk
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    await database_sync_to_async(LiveEvent.objects.filter(pk=young.pk).update)(
        created_at=timezone.now() - timedelta(seconds=10)
    )
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=5))["id"] == young.pk
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    await socket.send_json_to({"type": "ping"})  # nothing new: nothing sent twice
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_ping_during_a_burst_never_asks_for_a_reload(settings, monkeypatch):
    """A bulk change still on its way through the layer is not "missed" because a ping came first."""
    settings.POSTFLOW_LIVE_RELAY = False
    monkeypatch.setattr(realtime, "CATCH_UP_LIMIT", 2)
    cookie = await database_sync_to_async(session_cookie)("super")
    socket = await open_socket(cookie, 0)
    await receive_until_ready(socket)
    burst = [await database_sync_to_async(LiveEvent.objects.create)(kind="test", payload={}) for _ in range(5)]
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    # The burst arrives live; the socket misses a gap larger than a replay: it asks for a reload.
    await get_channel_layer().group_send(realtime.GROUP, realtime.group_message([burst[-1].as_message()]))
    message = await socket.receive_json_from(timeout=5)
    assert (message["type"], message["reason"]) == ("reload", "more than 2 events missed")
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@run_async
async def test_a_socket_that_never_pings_stops_receiving_once_signed_out(settings):
    settings.POSTFLOW_LIVE_RELAY = False
    cookie = await database_sync_to_async(session_cookie)("super")
    socket = await open_socket(cookie, 0)
    await receive_until_ready(socket)
    first = await database_sync_to_async(record)(n=1)
    assert (await socket.receive_json_from(timeout=5))["id"] == first.pk  # checked recently: sent
    await database_sync_to_async(Session.objects.all().delete)()
    later = await database_sync_to_async(record)(n=2)
    assert (await socket.receive_json_from(timeout=5))["id"] == later.pk  # within 25 s of the last check
    consumers.STAFF_RECHECK_SECONDS, original = -1, consumers.STAFF_RECHECK_SECONDS
    try:
        await database_sync_to_async(record)(n=3)
        assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
    finally:
        consumers.STAFF_RECHECK_SECONDS = original


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the Redis channel layer: `make test-scale`")
@pytest.mark.django_db(transaction=True)
@run_async
async def test_an_idle_socket_outlives_the_redis_blocking_read():
    # channels_redis waits for messages with a 5 s BZPOPMIN; redis-py 8 also times a read out after
    # 5 s by default, which tore every idle dashboard socket down (channels_redis#422).
    cookie = await database_sync_to_async(session_cookie)("super")
    socket = await open_socket(cookie, 0)
    await receive_until_ready(socket)
    assert await socket.receive_nothing(timeout=12, interval=0.5)  # raises if the consumer died
    event = await database_sync_to_async(record)(n=1)
    assert (await socket.receive_json_from(timeout=5))["id"] == event.pk
    await socket.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["signed out", "no longer staff", "deactivated", "password changed"])
@run_async
async def test_a_ping_closes_the_socket_of_a_session_that_is_no_longer_staff(change):
    cookie = await database_sync_to_async(session_cookie)("super")
    other = await database_sync_to_async(session_cookie)("colleague")  # their session is not touched
    socket, bystander = await open_socket(cookie, 0), await open_socket(other, 0)
    for each in (socket, bystander):
        await receive_until_ready(each)

    def make_change() -> None:
        user = User.objects.get(username="super")
        if change == "signed out":
            Session.objects.get(pk=cookie.decode().split("=", 1)[1]).delete()
        elif change == "password changed":
            user.set_password("new")  # the session's auth hash no longer matches
        else:
            setattr(user, "is_staff" if change == "no longer staff" else "is_active", False)
        user.save()

    await database_sync_to_async(make_change)()
    for each in (socket, bystander):
        await each.send_json_to({"type": "ping"})
    assert await socket.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_FORBIDDEN}
    assert await bystander.receive_json_from(timeout=5) == {"type": "pong"}
    await bystander.disconnect()


@pytest.mark.django_db
def test_the_feed_stops_at_a_young_hole_and_passes_an_old_one():
    # Ids are taken at insert and seen at commit: on PostgreSQL id 3 may commit after 4 is visible.
    # A feed reader never asks below its last id, so a young hole holds the page; an old one is a
    # rolled-back insert and is passed.
    first, second = LiveEvent.objects.create(kind="a"), LiveEvent.objects.create(kind="b")
    late = LiveEvent.objects.create(kind="c")
    after = LiveEvent.objects.create(kind="d")
    late.delete()  # the hole
    now = timezone.now()
    page = realtime.page_after(first.id, limit=10, now=now)
    assert [e["id"] for e in page.events] == [second.id] and page.last_id == second.id
    aged = now + timedelta(seconds=realtime.LATE_COMMIT_SECONDS + 1)
    page = realtime.page_after(first.id, limit=10, now=aged)
    assert [e["id"] for e in page.events] == [second.id, after.id] and page.last_id == after.id
