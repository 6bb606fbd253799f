"""From Frame.io to the delivery folder: a reviewer sets "Approved" on a version in Frame.io (the sandbox, over
real HTTP), postflow records that version as approved, and `deliver` delivers that version's original render."""

import pytest

from delivery import batches
from delivery.models import Delivery
from frameio import review
from shots.models import Shot
from shots.workflow import Status
from tests.delivery.conftest import mhl_verify
from tests.frameio import test_review
from tests.frameio.test_review import set_status, upload_version

pytestmark = pytest.mark.django_db(transaction=True)

# The review tests' fixtures: the sandbox with a connection, the reviewer's API, UNDLM_00042 at 25 fps.
sandbox = test_review.sandbox
api = test_review.api
shot = test_review.shot


def test_the_version_approved_in_frameio_is_the_one_delivered(sandbox, api, shot, tmp_path, settings):
    settings.POSTFLOW_DELIVERY_PATH = tmp_path / "delivery"
    settings.POSTFLOW_DELIVERY_PATH.mkdir()
    upload_version(tmp_path, shot, 1)
    latest = upload_version(tmp_path, shot, 2)

    set_status(api, sandbox, latest, "Approved")
    assert "moved to review_approved" in review.status_sync(file_id=latest.frameio_file_id)

    delivery = Delivery.objects.get(shot=shot)
    assert (delivery.version, delivery.render, delivery.approved_by) == (2, latest.render, "frameio")
    report = batches.deliver_shots([Shot.objects.get(pk=shot.pk)])
    assert report.outcomes[0].result == "delivered"
    folder = settings.POSTFLOW_DELIVERY_PATH / "UNDLM/01/UNDLM_00042"
    delivered = folder / "UNDLM_00042_v002.mov"
    assert delivered.read_bytes() == (tmp_path / "mount" / "UNDLM_00042_v002.mov").read_bytes()
    assert Shot.objects.get(pk=shot.pk).status == Status.FINAL_DELIVERY
    mhl_verify(folder)
