from datetime import UTC, datetime

import pytest

from alerts.models import OutboxMessage

# A canary: a webhook URL whose token must never show up in a log, a row or a task.
TOKEN = "CANARY-discord-token-7f3a"
URL = f"https://discord.com/api/webhooks/1234567890/{TOKEN}"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _quiet_channels(settings) -> None:
    """Whatever a developer's .env says, tests start with Discord and e-mail off."""
    settings.ENABLE_DISCORD_NOTIFICATIONS = True
    settings.DISCORD_WEBHOOK_URL = ""
    settings.DISCORD_WEBHOOK_URLS = {kind: "" for kind in settings.DISCORD_KINDS}
    settings.DISCORD_NOTIFY = {kind: True for kind in settings.DISCORD_KINDS}
    settings.ALERT_EMAILS = []
    settings.ALERT_COOLDOWN_MINUTES = 30


@pytest.fixture
def discord(settings) -> str:
    settings.DISCORD_WEBHOOK_URL = URL
    return URL


def discord_messages(**filters) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(channel=OutboxMessage.Channel.DISCORD, **filters).order_by("id"))


@pytest.fixture
def shot_upload(db):
    """UNDLM_00042 v003, 20 MB, uploaded to Frame.io in 40 s."""
    from datetime import timedelta

    from frameio.models import Upload
    from ingest.models import Render
    from tests.factories import make_project, make_render, make_scene, make_shot

    project = make_project(code="UNDLM", name="UNDLM Documentary")
    shot = make_shot(project, scene=make_scene(project, "REVEIL", number=1), nomenclature="UNDLM_00042")
    render = make_render(
        "renders/UNDLM_00042_v003.mov", state=Render.State.UPLOADED, at=NOW, shot=shot, version=3, size=20 * 1024 * 1024
    )
    return Upload.objects.create(
        render=render, state=Upload.State.UPLOADED, bytes_total=render.size, bytes_done=render.size,
        frameio_file_id="f1", view_url="https://next.frame.io/project/p1/view/f1",
        started_at=NOW, uploaded_at=NOW + timedelta(seconds=40),
    )  # fmt: skip
