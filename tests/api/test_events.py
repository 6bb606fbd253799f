"""GET /api/v1/events: the live event log as a feed; the long poll; pruned or restarted logs; the
document and the docs page."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone
from openapi_spec_validator import validate

from postflow import realtime
from postflow.models import LiveEvent

pytestmark = pytest.mark.django_db(transaction=True)


def publish(n: int, kind: str = "test.tick") -> None:
    for i in range(n):
        realtime.publish(kind, {"i": i})


def test_the_feed_pages_on_without_skipping_or_repeating(call, token):
    publish(7)
    first = call("GET", "/api/v1/events?after=0&limit=3", token=token).json()
    assert [e["payload"]["i"] for e in first["events"]] == [0, 1, 2]
    seen = list(first["events"])
    after = first["last_id"]
    while True:
        page = call("GET", f"/api/v1/events?after={after}&limit=3", token=token).json()
        if not page["events"]:
            break
        seen += page["events"]
        after = page["last_id"]
    assert [e["payload"]["i"] for e in seen] == list(range(7))
    ids = [e["id"] for e in seen]
    assert ids == sorted(set(ids)) and after == ids[-1]


def test_without_after_the_feed_starts_now(call, token):
    publish(3)
    page = call("GET", "/api/v1/events", token=token).json()
    assert page == {"events": [], "last_id": realtime.last_event_id()}


def test_an_empty_long_poll_waits_then_answers_an_empty_page(call, token):
    publish(1)
    newest = realtime.last_event_id()
    started = time.monotonic()
    page = call("GET", f"/api/v1/events?after={newest}&wait=0.6", token=token).json()
    assert time.monotonic() - started >= 0.6
    assert page == {"events": [], "last_id": newest}


def test_a_long_poll_answers_as_soon_as_an_event_is_recorded(call, token):
    newest = realtime.last_event_id()

    def later() -> None:
        time.sleep(0.5)
        realtime.publish("shot.status", {"shot": "TST_00001"})
        close_old_connections()

    publisher = threading.Thread(target=later)
    publisher.start()
    started = time.monotonic()
    page = call("GET", f"/api/v1/events?after={newest}&wait=20", token=token).json()
    publisher.join()
    assert time.monotonic() - started < 10
    assert [e["kind"] for e in page["events"]] == ["shot.status"]


def test_pruned_events_or_a_restarted_log_answer_410(call, token, settings):
    publish(5)
    ids = list(LiveEvent.objects.values_list("id", flat=True))
    LiveEvent.objects.filter(id__in=ids[:3]).update(created_at=timezone.now() - timedelta(days=3))
    realtime.prune()
    pruned = call("GET", f"/api/v1/events?after={ids[0]}", token=token)
    assert pruned.status_code == 410 and pruned.json()["error"] == "events_lost"
    assert pruned.json()["last_id"] == ids[-1]
    restarted = call("GET", f"/api/v1/events?after={ids[-1] + 100}", token=token)
    assert restarted.status_code == 410 and "restarted" in restarted.json()["detail"]


def test_bad_feed_parameters_are_400(call, token):
    too_long = call("GET", "/api/v1/events?wait=600", token=token, validate_request=False)
    assert too_long.status_code == 400 and too_long.json()["fields"] == ["query.wait"]
    negative = call("GET", "/api/v1/events?after=-1", token=token, validate_request=False)
    assert negative.status_code == 400 and negative.json()["fields"] == ["query.after"]


def test_the_feed_is_for_staff(call, make_token, django_user_model):
    response = call("GET", "/api/v1/events", token=make_token(django_user_model.objects.create_user("bob")))
    assert response.status_code == 403


def test_the_document_is_public_and_valid_and_the_docs_page_is_for_staff(client, admin_client):
    document = client.get("/api/v1/openapi.json").json()
    validate(document)
    assert set(document["paths"]) == {
        "/api/v1/shots",
        "/api/v1/shots/{nomenclature}",
        "/api/v1/shots/{nomenclature}/versions",
        "/api/v1/shots/{nomenclature}/notes",
        "/api/v1/shots/{nomenclature}/status",
        "/api/v1/events",
    }
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    assert client.get("/api/v1/docs").status_code == 302  # to the admin's login
    docs = admin_client.get("/api/v1/docs")
    assert docs.status_code == 200 and b"/api/v1/openapi.json" in docs.content


def test_an_unknown_endpoint_is_json_404(client):
    response = client.get("/api/v1/renders")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found" and "/api/v1/renders" in response.json()["detail"]


def test_a_wrong_method_is_json_405(client):
    for path in ("/api/v1/shots", "/api/v1/events"):
        response = client.delete(path)
        assert response.status_code == 405 and response["Allow"] == "GET"
        assert response.json() == {"error": "method_not_allowed", "detail": "allowed: GET"}
