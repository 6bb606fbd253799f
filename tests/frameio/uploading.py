"""What the tests that upload to the sandbox share: the sandbox with an S2S connection, a shot,
and renders the watcher verified and queued. tests/conftest.py loads it as a plugin."""

from pathlib import Path

import pytest
import xxhash
from django.utils import timezone

from frameio import auth
from frameio.uploads import status_field
from frameio_sandbox.server import SandboxConfig, run_sandbox
from ingest.models import Render
from shots.workflow import Status
from tests.factories import make_project, make_render_of_file, make_scene, make_shot

MB = 1_000_000


def connect_to_sandbox(settings, sb) -> None:
    """Point postflow at the sandbox `sb` with a Server-to-Server connection, as `make run` does."""
    settings.FRAMEIO_SANDBOX = True
    settings.FRAMEIO_AUTH = "s2s"
    settings.FRAMEIO_SCOPES = "openid AdobeID frame.s2s.all"
    settings.FRAMEIO_API_URL = settings.FRAMEIO_IMS_URL = sb.base_url
    settings.FRAMEIO_CLIENT_ID, settings.FRAMEIO_CLIENT_SECRET = sb.client_id, sb.client_secret
    settings.FRAMEIO_ACCOUNT_ID, settings.FRAMEIO_WORKSPACE_ID = sb.account_id, sb.workspace_id
    settings.FRAMEIO_DEFAULT_PROJECT_ID = ""
    settings.FRAMEIO_TOKEN_KEY = ""
    auth.connect_server_to_server()
    status_field._status_cache.clear()


@pytest.fixture
def sandbox(settings, tmp_path):
    config = SandboxConfig(port=0, seed=3, transcode_delay=0.05, data_dir=tmp_path / "sandbox", upload_part_size=4 * MB)
    with run_sandbox(config) as sb:
        settings.MAX_CONCURRENT_UPLOADS = 2
        settings.FRAMEIO_PART_CONCURRENCY = 3
        settings.FRAMEIO_UPLOAD_LEASE_SECONDS = 60
        connect_to_sandbox(settings, sb)
        yield sb


@pytest.fixture
def shot(db):
    project = make_project(code="UNDLM", name="UNDLM Documentary", fps=25)
    scene = make_scene(project, "REVEIL HOPITAL - JOUR", number=1)
    return make_shot(project, scene=scene, nomenclature="UNDLM_00042", duration=50, status=Status.AE_COMPLETED)


def queued_render(
    tmp_path: Path, shot, version: int, size: int = 10 * MB, *, data: bytes | None = None, media: dict | None = None
) -> Render:
    """A render the watcher verified and queued: a file of `size` bytes (or `data`) on disk."""
    path = tmp_path / "mount" / f"{shot.nomenclature}_v{version:03d}.mov"
    path.parent.mkdir(exist_ok=True)
    if data is None:
        data = (bytes(range(256)) * (size // 256 + 1))[: size - version] + bytes([version]) * version
    path.write_bytes(data)
    now = timezone.now()
    return make_render_of_file(
        path,
        state=Render.State.QUEUED,
        shot=shot,
        version=version,
        checksum=xxhash.xxh3_128(data).hexdigest(),
        media=media or {},
        verified_at=now,
        queued_at=now,
        rule="review",
    )
