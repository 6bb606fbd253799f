"""Scale mode end to end: two worker clusters and two watchers on one PostgreSQL, 200 renders.

Each render is uploaded exactly once, and every live event reaches a subscriber of the Redis
channel layer. Runs in `make test-scale` (PostgreSQL + Redis); on the embedded SQLite default
it is skipped, because two watchers and two clusters on one SQLite file is not a supported setup.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from frameio.models import Upload
from frameio.sandbox.server import SandboxConfig, run_sandbox
from ingest.models import Render
from postflow.lib.dburl import database_url
from postflow.models import LiveEvent
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
        received = asyncio.run(_run_processes(env, production))
    uploads = Upload.objects.all()
    assert uploads.count() == RENDERS
    assert set(uploads.values_list("state", flat=True)) <= {Upload.State.UPLOADED, Upload.State.READY}
    assert Render.objects.count() == RENDERS  # two watchers, one ledger row per file
    names = [f["name"] for f in sb.state.files.values()]
    assert len(names) == RENDERS == len(set(names))  # exactly one Frame.io file per render
    assert Shot.objects.filter(status=Status.REVIEW_UPLOADED).count() == RENDERS
    assert ShotEvent.objects.filter(kind=ShotEvent.Kind.TRANSITION).count() == RENDERS
    # Every live event recorded reached the subscriber, once.
    recorded = set(LiveEvent.objects.values_list("id", flat=True))
    assert received == recorded and len(recorded) >= RENDERS


async def _run_processes(env: dict, root: Path) -> set[int]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("dashboard", channel)
    manage = [sys.executable, str(ROOT / "manage.py")]
    commands = [[*manage, "qcluster"]] * 2 + [[*manage, "watch", "--root", str(root)]] * 2
    processes = [subprocess.Popen(c, env=env, cwd=ROOT, stdout=subprocess.DEVNULL) for c in commands]
    received: list[int] = []

    async def listen(seconds: float) -> None:
        try:
            message = await asyncio.wait_for(layer.receive(channel), timeout=seconds)
            received.extend(event["id"] for event in message.get("events", []))
        except TimeoutError:
            pass

    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not await _done():
            await listen(1)
    finally:
        # Stop the processes while still listening: whatever they publish until they exit counts.
        for process in processes:
            process.send_signal(signal.SIGTERM)
        stop_deadline = time.monotonic() + 30
        while any(p.poll() is None for p in processes) and time.monotonic() < stop_deadline:
            await listen(0.2)
        for process in processes:
            if process.poll() is None:
                process.kill()
    drained = time.monotonic() + 3
    while time.monotonic() < drained:  # the last messages in flight in Redis
        await listen(0.5)
    assert len(received) == len(set(received)), "an event was delivered twice"
    return set(received)


async def _done() -> bool:
    from channels.db import database_sync_to_async

    @database_sync_to_async
    def count() -> int:
        return Upload.objects.filter(state__in=[Upload.State.UPLOADED, Upload.State.READY]).count()

    return await count() >= RENDERS


def test_settings_are_in_scale_mode():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert connection.vendor == "postgresql"
