"""Webhook bodies, generated and correctly signed: each that postflow cannot store is answered 400
(413 when too big) and leaves no WebhookDelivery and no job; the boundaries next to them are
accepted, so that the limits stay where they are meant to be."""

import json

import pytest

from frameio import webhooks
from frameio.models import WebhookDelivery
from tests.frameio import test_webhooks as signed

pytestmark = pytest.mark.django_db

# The signed receiver's fixtures: the registered webhook with its secret, and the job queue.
registered, enqueued = signed.registered, signed.enqueued


def event(**changes) -> dict:
    """Frame.io's ids-only payload, with `changes` merged at the top (None removes a key)."""
    payload = json.loads(signed.event("comment.created", "comment-1", "comment"))
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not None}


def body(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def with_raw(value: str) -> bytes:
    """The event with `value`, JSON text as written, under the key "x"."""
    return body(event())[:-1] + b',"x":' + value.encode() + b"}"


def nested(depth: int, opening: str = "[", closing: str = "]") -> str:
    return opening * depth + closing * depth


UNUSABLE: dict[str, tuple[bytes, int]] = {
    # Not JSON, or not an object.
    "empty body": (b"", 400),
    "whitespace": (b" \r\n\t ", 400),
    "not JSON": (b"not json", 400),
    "JSON and trailing garbage": (body(event()) + b"x", 400),
    "two objects": (body(event()) * 2, 400),
    "a UTF-8 BOM before the object": (b"\xef\xbb\xbf" + body(event()), 400),
    "Latin-1 bytes": (body(event(type="comment.créé")).replace("é".encode(), b"\xe9"), 400),
    "UTF-16": ("\ufeff".encode("utf-16-le") + json.dumps(event()).encode("utf-16-le"), 400),
    "[]": (b"[]", 400),
    "[event]": (body([event()]), 400),
    "a string": (b'"comment.created"', 400),
    "null": (b"null", 400),
    "a number": (b"1", 400),
    "true": (b"true", 400),
    "{}": (b"{}", 400),
    # Nested past what json.loads can recurse through, or past MAX_DEPTH.
    "arrays nested 30,000 deep": (with_raw(nested(30_000)), 400),
    "objects nested 10,000 deep": (with_raw('{"a":' * 10_000 + "1" + "}" * 10_000), 400),
    "a bare array nested 30,000 deep": (nested(30_000).encode(), 400),
    f"nested {webhooks.MAX_DEPTH + 1} deep, one too many": (with_raw(nested(webhooks.MAX_DEPTH)), 400),
    # Numbers no JSON column holds.
    "NaN": (with_raw("NaN"), 400),
    "Infinity": (with_raw("Infinity"), 400),
    "-Infinity": (with_raw("-Infinity"), 400),
    "1e999999": (with_raw("1e999999"), 400),
    "-1e999999": (with_raw("-1e999999"), 400),
    "2**63": (with_raw(str(2**63)), 400),
    "-(2**63) - 1": (with_raw(str(-(2**63) - 1)), 400),
    "an integer of 5,000 digits": (with_raw("9" * 5000), 400),
    # Strings PostgreSQL's jsonb refuses.
    "NUL in a string": (with_raw('"a\\u0000b"'), 400),
    "NUL in a key": (with_raw('{"a\\u0000": 1}'), 400),
    "a lone high surrogate": (with_raw('"\\ud800"'), 400),
    "a lone low surrogate in the type": (body(event()).replace(b"comment.created", b"comment.\\udc00"), 400),
    # The fields postflow reads: missing, of the wrong type, or longer than their column.
    "no type": (body(event(type=None)), 400),
    "type empty": (body(event(type="")), 400),
    "type a number": (body(event(type=7)), 400),
    "type a list": (body(event(type=["comment.created"])), 400),
    "type of 65 characters": (body(event(type="c" * 65)), 400),
    "no resource": (body(event(resource=None)), 400),
    "resource a string": (body(event(resource="comment-1")), 400),
    "resource id missing": (body(event(resource={"type": "comment"})), 400),
    "resource id null": (body(event(resource={"id": None, "type": "comment"})), 400),
    "resource id a number": (body(event(resource={"id": 123, "type": "comment"})), 400),
    "resource id a list": (body(event(resource={"id": ["comment-1"], "type": "comment"})), 400),
    "resource id an object": (body(event(resource={"id": {"id": "comment-1"}, "type": "comment"})), 400),
    "resource id of 65 characters": (body(event(resource={"id": "c" * 65, "type": "comment"})), 400),
    "resource type a number": (body(event(resource={"id": "comment-1", "type": 1})), 400),
    "resource type of 33 characters": (body(event(resource={"id": "comment-1", "type": "t" * 33})), 400),
    "no account": (body(event(account=None)), 400),
    "account id a number": (body(event(account={"id": 1})), 400),
    "account a list": (body(event(account=[{"id": "acc-1"}])), 400),
    "workspace id a number": (body(event(workspace={"id": 1})), 400),
    "project a string": (body(event(project="proj-1")), 400),
    "user id of 65 characters": (body(event(user={"id": "u" * 65})), 400),
    # Over the size limit: refused before it is read whole.
    "over 64 KiB": (with_raw('"' + "x" * webhooks.MAX_BODY_BYTES + '"'), 413),
}


@pytest.mark.parametrize(("payload", "status"), UNUSABLE.values(), ids=UNUSABLE.keys())
def test_a_signed_body_postflow_cannot_store_is_refused_and_stored_nowhere(
    registered, enqueued, client, django_capture_on_commit_callbacks, payload, status
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed.post(client, payload)
    assert (response.status_code, response.content) == (status, b"")
    assert not WebhookDelivery.objects.exists() and enqueued == []


ACCEPTED: dict[str, bytes] = {
    f"nested {webhooks.MAX_DEPTH} deep": with_raw(nested(webhooks.MAX_DEPTH - 1)),
    "brackets inside strings": with_raw(json.dumps("[" * 30_000 + '\\"{')),
    "1e308": with_raw("1e308"),
    "2**63 - 1": with_raw(str(2**63 - 1)),
    "null project and workspace ids (as the sandbox sends)": body(event(project={"id": None}, workspace={"id": None})),
    "no user, project or workspace": body(event(user=None, project=None, workspace=None)),
    "ids of 64 characters": body(event(resource={"id": "c" * 64, "type": "comment"}, account={"id": "a" * 64})),
    "an astral character (a valid surrogate pair)": with_raw('"\\ud83c\\udfac"'),
    "unknown extra fields": body(event(extra={"anything": [1, "two", None, True]})),
}


@pytest.mark.parametrize("payload", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_a_body_at_the_boundary_is_stored_and_enqueued(
    registered, enqueued, client, django_capture_on_commit_callbacks, payload
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed.post(client, payload)
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert enqueued == [delivery.pk] and delivery.event_type == "comment.created"
