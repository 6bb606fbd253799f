"""Deliveries on real files: renders made in the test (PyAV clips, Pillow frames), verified by the real
watcher, approved through shots.services, delivered into a temporary delivery root."""

import contextlib
import os
import subprocess
from pathlib import Path

import pytest
from ascmhl import commands

from ingest.models import Render
from shots.services import shot_force_status, shot_transition
from shots.workflow import Status
from tests.ingest import test_watcher
from tests.ingest.media import make_clip
from tests.ingest.test_sequences import write_frames
from tests.ingest.test_watcher import scan_across_the_settle_window

# The watcher's fixtures: UNDLM_00042 (scene 1, 50 frames at 25 fps) and UNDLM_00041, a mount under tmp_path.
shot = test_watcher.shot
root = test_watcher.root
clock = test_watcher.clock
watcher = test_watcher.watcher

MOVIE = "renders/review/UNDLM_00042_v001.mov"
SEQUENCE = "renders/review/UNDLM_00042_v002.####.png"
DISCORD = "https://discord.com/api/webhooks/1234567890/delivery-test-token"


@pytest.fixture
def delivery_root(tmp_path, settings) -> Path:
    path = tmp_path / "delivery"
    path.mkdir()
    settings.POSTFLOW_DELIVERY_PATH = path
    settings.POSTFLOW_AUTO_DELIVER = False
    settings.DISCORD_WEBHOOK_URL = ""
    settings.ALERT_EMAILS = []
    return path


@pytest.fixture
def approve(watcher, clock, enqueued, django_capture_on_commit_callbacks):
    """Verify a render with the watcher, then approve its shot as a producer would: returns the render."""

    def run(shot, path: str, *, actor: str = "user:ana") -> Render:
        scan_across_the_settle_window(watcher, clock)
        render = Render.objects.get(path=path)
        assert render.state in Render.VERSION_STATES, render.reason
        shot.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            if shot.status != Status.REVIEW_UPLOADED:
                shot_force_status(shot_id=shot.pk, to_status=Status.REVIEW_UPLOADED, actor="test", reason="setup")
            shot_transition(shot_id=shot.pk, to_status=Status.REVIEW_APPROVED, actor=actor)
        return render

    return run


@pytest.fixture
def approved_movie(shot, root, approve) -> Render:
    make_clip(root / MOVIE, frames=50)
    return approve(shot, MOVIE)


@pytest.fixture
def approved_sequence(shot, root, approve) -> Render:
    write_frames(root, SEQUENCE, range(1001, 1051))
    return approve(shot, SEQUENCE)


def mhl(command, folder: Path) -> None:
    """Run an ascmhl command (the package's own click command) over a folder; raises its ClickException."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        command.main([str(folder)], standalone_mode=False)


def mhl_verify(folder: Path) -> None:
    """What `ascmhl create` does over an existing history: re-hash every file, verify it against the previous
    generation (VerificationFailedException on a mismatch), and fail on a missing one; then `diff`."""
    mhl(commands.create, folder)
    mhl(commands.diff, folder)


@contextlib.contextmanager
def read_only(folder: Path):
    """A folder nobody may write into, even root (the tests may run as root: chmod alone would not stop it).
    As root: the immutable attribute, or else a read-only tmpfs mounted over it."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)
