"""Scale mode end to end: two worker clusters and two watchers on one PostgreSQL, 200 renders.

Each render is uploaded exactly once, and every live event reaches a dashboard socket served over
the Redis channel layer, once and in order. Runs in `make test-scale` (PostgreSQL + Redis); on the
embedded SQLite default it is skipped, because two watchers and two clusters on one SQLite file is
not a supported setup.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from frameio.models import Upload
from frameio_sandbox.server import SandboxConfig, run_sandbox
from ingest.models import Render
from postflow import realtime
from postflow.lib.dburl import database_url
from postflow.models import LiveEvent
from postflow.routing import websocket_application
from shots.models import Shot, ShotEvent
from shots.workflow import Status
from tests.factories import make_project, make_scene, make_shot
from tests.ingest.media import make_clip

ROOT = Path(__file__).resolve().parent.parent
RENDERS = 200

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")),
        reason="scale mode only: run with `make test-scale` (PostgreSQL and Redis)",
    ),
]


@pytest.fixture
def production(tmp_path):
    project = make_project(code="UNDLM", fps=25)
    scene = make_scene(project, "SCENE", number=1)
    for number in range(1, RENDERS + 1):
        make_shot(project, scene=scene, nomenclature=f"UNDLM_{number:05d}", duration=10, status=Status.AE_COMPLETED)
    root = tmp_path / "mount"
    template = make_clip(tmp_path / "template.mov", frames=10)
    for number in range(1, RENDERS + 1):
        folder = root / "review" / f"{number % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"UNDLM_{number:05d}_v001.mov").write_bytes(template.read_bytes())
    return root


def test_two_clusters_and_two_watchers_upload_each_render_once(production, tmp_path):
    with run_sandbox(
        SandboxConfig(port=0, data_dir=tmp_path / "sandbox", rate_limits=False, transcode_delay=0.1)
    ) as sb:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(connection.settings_dict),
            "REDIS_URL": os.environ["REDIS_URL"],
            "POSTFLOW_VAR_DIR": str(tmp_path / "var"),
            "FRAMEIO_SANDBOX": "true",
            "FRAMEIO_SANDBOX_URL": sb.base_url,
            "FRAMEIO_AUTH": "s2s",
            "FRAMEIO_ACCOUNT_ID": sb.account_id,
            "FRAMEIO_WORKSPACE_ID": sb.workspace_id,
            "POSTFLOW_SETTLE_SECONDS": "1",
            "POSTFLOW_SCAN_INTERVAL_SECONDS": "0.5",
            "Q_WORKERS": "2",
            "MAX_CONCURRENT_UPLOADS": "4",
            "LOG_LEVEL": "WARNING",
        }
        received = async_to_sync(_run_processes)(env, production)
    uploads = Upload.objects.all()
    assert uploads.count() == RENDERS
    assert set(uploads.values_list("state", flat=True)) <= {Upload.State.UPLOADED, Upload.State.READY}
    assert Render.objects.count() == RENDERS  # two watchers, one ledger row per file
    names = [f["name"] for f in sb.state.files.values()]
    assert len(names) == RENDERS == len(set(names))  # exactly one Frame.io file per render
    assert Shot.objects.filter(status=Status.REVIEW_UPLOADED).count() == RENDERS
    assert ShotEvent.objects.filter(kind=ShotEvent.Kind.TRANSITION).count() == RENDERS
    # Every live event recorded reached the dashboard socket once, in order (RENDERS transitions
    # at least, and more events than a catch-up replays: most came live through Redis).
    recorded = list(LiveEvent.objects.order_by("id").values_list("id", flat=True))
    assert received == recorded and len(recorded) > max(RENDERS, realtime.CATCH_UP_LIMIT)


async def _run_processes(env: dict, root: Path) -> list[int]:
    """Run the processes until every render is uploaded; the event ids one dashboard socket got."""
    manage = [sys.executable, str(ROOT / "manage.py")]
    commands = [[*manage, "qcluster"]] * 2 + [[*manage, "watch", "--root", str(root)]] * 2
    socket = await _open_dashboard()
    received: list[int] = []
    ponged = asyncio.Event()
    # One receive that is never cancelled while the processes run: the socket's own read loop.
    collector = asyncio.create_task(_collect(socket, received, ponged))
    processes = [subprocess.Popen(c, env=env, cwd=ROOT, stdout=subprocess.DEVNULL) for c in commands]
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not await _done():
            await asyncio.sleep(1)
    finally:
        # Whatever the processes publish until they exit counts too.
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
    await asyncio.sleep(2)  # the last direct sends in flight in Redis
    # The keep-alive ping sends what the channel may have dropped (channels_redis drops messages to
    # a full channel), then answers.
    await socket.send_json_to({"type": "ping"})
    await asyncio.wait({collector, asyncio.ensure_future(ponged.wait())}, timeout=10, return_when="FIRST_COMPLETED")
    if collector.done():
        collector.result()  # the socket said something else than events and a pong: raise it here
    assert ponged.is_set(), "no pong within 10 s"
    collector.cancel()
    await socket.disconnect()
    return received


async def _open_dashboard() -> WebsocketCommunicator:
    cookie = await database_sync_to_async(_staff_session_cookie)()
    headers = [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000"), (b"cookie", cookie)]
    socket = WebsocketCommunicator(websocket_application, "/ws/dashboard/", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "resume", "last_id": 0})
    assert await socket.receive_json_from(timeout=5) == {"type": "ready", "last_id": 0}
    return socket


def _staff_session_cookie() -> bytes:
    client = Client()
    client.force_login(User.objects.create_user("supervisor", is_staff=True))
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _collect(socket: WebsocketCommunicator, received: list[int], ponged: asyncio.Event) -> None:
    while True:
        message = await socket.receive_json_from(timeout=3600)
        assert message["type"] in {"event", "pong"}, message  # a "reload": the socket lost events
        if message["type"] == "pong":
            ponged.set()
        else:
            received.append(message["id"])


async def _done() -> bool:
    @database_sync_to_async
    def count() -> int:
        return Upload.objects.filter(state__in=[Upload.State.UPLOADED, Upload.State.READY]).count()

    return await count() >= RENDERS


def test_settings_are_in_scale_mode():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert connection.vendor == "postgresql"
