"""POST /api/v1/shots/{nomenclature}/status: legal moves through shots.services, 409 with the allowed moves,
forced moves with their permission and reason; bad bodies answered 400 naming the field."""

import pytest

from postflow.models import LiveEvent
from shots.models import ShotEvent
from shots.workflow import Status
from tests.api.conftest import grant
from tests.factories import make_shot

pytestmark = pytest.mark.django_db(transaction=True)  # the live event is recorded on commit


@pytest.fixture
def shot():
    return make_shot(nomenclature="TST_00042", status=Status.AE_READY, timeline_in=0)


def test_a_legal_move_goes_through_the_service_and_is_published(call, token, shot):
    response = call(
        "POST", "/api/v1/shots/TST_00042/status", token=token, body={"to": "ae_in_progress", "reason": "AE"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["from_status"], body["to_status"], body["forced"]) == ("ae_ready", "ae_in_progress", False)
    assert body["shot"]["status"] == "ae_in_progress" and body["shot"]["allowed_moves"] == ["ae_completed"]
    event = ShotEvent.objects.get(shot=shot)
    assert (event.kind, event.actor, event.reason) == (ShotEvent.Kind.TRANSITION, "user:ana", "AE")
    assert event.details["via"] == "api" and event.details["token"].startswith("pf_")
    live = LiveEvent.objects.get(kind="shot.status")
    assert (live.payload["from"], live.payload["to"]) == ("ae_ready", "ae_in_progress")


def test_an_illegal_move_is_409_with_the_allowed_moves(call, token, shot):
    response = call("POST", "/api/v1/shots/TST_00042/status", token=token, body={"to": "review_approved"})
    assert response.status_code == 409
    assert response.json()["error"] == "illegal_move" and response.json()["allowed"] == ["ae_in_progress"]
    shot.refresh_from_db()
    assert shot.status == Status.AE_READY and not ShotEvent.objects.exists()


def test_forcing_needs_the_permission_and_a_reason(call, token, editor, shot):
    move = {"to": "review_approved", "force": True, "reason": "approved on set"}
    refused = call("POST", "/api/v1/shots/TST_00042/status", token=token, body=move)
    assert refused.status_code == 403 and "shots.force_status" in refused.json()["detail"]

    grant(editor, "shots.force_status")
    no_reason = call("POST", "/api/v1/shots/TST_00042/status", token=token, body={**move, "reason": "  "})
    assert no_reason.status_code == 400 and no_reason.json()["fields"] == ["body.reason"]

    forced = call("POST", "/api/v1/shots/TST_00042/status", token=token, body=move)
    assert forced.status_code == 200 and forced.json()["forced"] is True
    event = ShotEvent.objects.get(shot=shot)
    assert (event.kind, event.to_status, event.reason) == (
        ShotEvent.Kind.OVERRIDE,
        "review_approved",
        "approved on set",
    )


def test_moving_needs_the_change_permission(call, make_token, django_user_model, shot):
    reader = grant(django_user_model.objects.create_user("viewer"), "shots.view_shot")
    response = call("POST", "/api/v1/shots/TST_00042/status", token=make_token(reader), body={"to": "ae_in_progress"})
    assert response.status_code == 403 and "shots.change_shot" in response.json()["detail"]


def test_an_unknown_status_is_400_listing_the_valid_ones(call, token, shot):
    response = call("POST", "/api/v1/shots/TST_00042/status", token=token, body={"to": "ae_started"})
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_status" and response.json()["valid"] == list(Status.values)


def test_bad_bodies_are_400_naming_the_field(call, token, shot):
    missing = call("POST", "/api/v1/shots/TST_00042/status", token=token, body={"reason": "x"}, validate_request=False)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request" and missing.json()["fields"] == ["body.to"]
    wrong_type = call("POST", "/api/v1/shots/TST_00042/status", token=token, body={"to": 3}, validate_request=False)
    assert wrong_type.status_code == 400 and wrong_type.json()["fields"] == ["body.to"]
    not_json = call("POST", "/api/v1/shots/TST_00042/status", token=token, raw="{to: ae", validate_request=False)
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_request"
    assert "parse" in not_json.json()["detail"]


def test_an_unknown_shot_is_404(call, token, shot):
    response = call("POST", "/api/v1/shots/TST_99999/status", token=token, body={"to": "ae_in_progress"})
    assert response.status_code == 404 and response.json()["error"] == "not_found"
