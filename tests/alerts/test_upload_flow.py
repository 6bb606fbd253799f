"""A real upload against the Frame.io sandbox leaves its metrics and its Discord message behind."""

import pytest

from alerts.models import Metric
from frameio import uploads
from frameio.models import Upload
from tests.alerts.conftest import discord_messages
from tests.frameio.uploading import queued_render

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_upload_records_calls_rate_structure_and_queues_the_render_message(sandbox, shot, tmp_path, discord):
    first = uploads.upload_render(render_id=queued_render(tmp_path, shot, 1).pk)
    second = uploads.upload_render(render_id=queued_render(tmp_path, shot, 2).pk)
    assert first.state == second.state == Upload.State.UPLOADED
    calls = Metric.objects.filter(name=Metric.API)
    assert calls.filter(label="files.create_local_upload", status=201).count() == 2
    assert not calls.filter(ok=False).exists()
    assert Metric.objects.filter(name=Metric.UPLOAD).count() == 2
    # The scene folder is looked up once in Frame.io, then served from Scene.frameio_folder_id.
    lookups = list(Metric.objects.filter(name=Metric.STRUCTURE).order_by("id").values_list("ok", flat=True))
    assert lookups[0] is False and all(lookups[1:]) and len(lookups) >= 2
    messages = discord_messages(kind="renders")
    assert [m.payload["embeds"][0]["url"] for m in messages] == [first.view_url, second.view_url]
    assert messages[1].payload["embeds"][0]["title"] == "UNDLM_00042 v002 uploaded for review"
