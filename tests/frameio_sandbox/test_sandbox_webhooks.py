"""Webhook delivery by the sandbox to a local receiver: signature, ids-only payloads, retry schedule."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from frameio_sandbox import SandboxConfig, run_sandbox
from tests.frameio_sandbox.harness import SandboxApi, put_parts

SCALE = 0.01  # back-offs of 0.15 s, 0.3 s, 0.6 s, 1.2 s instead of 15 s ... 120 s


class Receiver:
    """A local webhook endpoint: records every request, answers statuses from a script (then 200)."""

    def __init__(self, statuses=(), delay: float = 0.0):
        self.requests: list[dict] = []
        self.statuses, self.delay = list(statuses), delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "at": time.monotonic()})
                time.sleep(receiver.delay)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/frameio/webhook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=(), delay=0.0):
        made.append(Receiver(statuses, delay))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def sandbox():
    with run_sandbox(SandboxConfig(transcode_delay=0.05, webhook_retry_scale=SCALE, seed=5)) as running:
        yield running


def subscribe(sandbox, url: str, events: list[str]) -> dict:
    api = SandboxApi(sandbox)
    response = api.post(
        f"/workspaces/{sandbox.workspace_id}/webhooks", {"name": "postflow", "url": url, "events": events}
    )
    assert response.status_code == 201
    return response.json()["data"]


def verify(secret: str, request: dict) -> bool:
    timestamp = request["headers"]["X-Frameio-Request-Timestamp"]
    message = b"v0:" + timestamp.encode() + b":" + request["body"]
    expected = "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request["headers"]["X-Frameio-Signature"])


def test_events_arrive_signed_with_ids_only(sandbox, receiver):
    hook = receiver()
    webhook = subscribe(sandbox, hook.url, ["file.created", "file.upload.completed", "file.ready", "comment.created"])
    api = SandboxApi(sandbox)
    project = api.post(f"/workspaces/{sandbox.workspace_id}/projects", {"name": "Hooks"}).json()["data"]
    upload = api.post(f"/folders/{project['root_folder_id']}/files/local_upload", {"name": "a.mov", "file_size": 3})
    put_parts(upload.json()["data"], b"abc")
    file_id = upload.json()["data"]["id"]
    api.post(f"/files/{file_id}/comments", {"text": "hello", "timestamp": 1})
    sandbox.wait_for(lambda: len(hook.requests) == 4)

    bodies = [json.loads(r["body"]) for r in hook.requests]
    assert sorted(b["type"] for b in bodies) == sorted(
        ["file.created", "file.upload.completed", "file.ready", "comment.created"]
    )
    ready = next(b for b in bodies if b["type"] == "file.ready")
    assert ready == {
        "type": "file.ready",
        "resource": {"id": file_id, "type": "file"},
        "account": {"id": sandbox.account_id},
        "workspace": {"id": sandbox.workspace_id},
        "project": {"id": project["id"]},
        "user": {"id": sandbox.user_id},
    }
    for request in hook.requests:
        assert request["headers"]["User-Agent"] == "Frame.io V4 API"
        assert request["headers"]["X-Frameio-Signature"].startswith("v0=")
        assert abs(int(request["headers"]["X-Frameio-Request-Timestamp"]) - time.time()) < 5
        assert verify(webhook["secret"], request)
        assert not verify("another-secret", request)


def test_retry_schedule_after_500s(sandbox, receiver):
    scale = sandbox.config.webhook_retry_scale = 0.005
    hook = receiver(statuses=[500] * 10)
    subscribe(sandbox, hook.url, ["file.ready"])
    sandbox.deliver_webhook_event("file.ready", "3f0c2a6e-0000-4000-8000-000000000001")
    sandbox.wait_for(lambda: len(hook.requests) == 5, timeout=20)
    time.sleep(240 * scale * 1.1 + 0.1)  # when a sixth attempt would have come: none does
    assert len(hook.requests) == 5
    gaps = [b["at"] - a["at"] for a, b in zip(hook.requests, hook.requests[1:], strict=False)]
    for gap, nominal in zip(gaps, (15, 30, 60, 120), strict=True):
        assert nominal * scale <= gap <= nominal * scale * 1.1 + 0.05, gaps
    assert len({r["body"] for r in hook.requests}) == 1  # the same event every time
    attempts = [d for d in sandbox.state.webhook_deliveries if d["event_type"] == "file.ready"]
    assert [d["attempt"] for d in attempts] == [1, 2, 3, 4, 5] and not any(d["ok"] for d in attempts)


def test_retries_stop_after_a_success(sandbox, receiver):
    hook = receiver(statuses=[500, 503])
    webhook = subscribe(sandbox, hook.url, ["comment.created"])
    sandbox.deliver_webhook_event("comment.created", "3f0c2a6e-0000-4000-8000-000000000002", resource_type="comment")
    sandbox.wait_for(lambda: len(hook.requests) == 3)
    time.sleep(SCALE * 60 * 1.2)
    assert len(hook.requests) == 3
    assert all(verify(webhook["secret"], r) for r in hook.requests)


def test_a_slow_answer_counts_as_a_failure(sandbox, receiver):
    sandbox.config.webhook_timeout = 0.2
    hook = receiver(delay=0.4)
    subscribe(sandbox, hook.url, ["file.ready"])
    sandbox.deliver_webhook_event("file.ready", "3f0c2a6e-0000-4000-8000-000000000003")
    sandbox.wait_for(lambda: len(hook.requests) >= 2, timeout=20)
    assert sandbox.state.webhook_deliveries[0]["ok"] is False


def test_only_subscribed_active_local_webhooks_get_events(sandbox, receiver):
    wanted, unwanted, inactive = receiver(), receiver(), receiver()
    subscribe(sandbox, wanted.url, ["file.ready"])
    subscribe(sandbox, unwanted.url, ["comment.created"])
    off = subscribe(sandbox, inactive.url, ["file.ready"])
    SandboxApi(sandbox).patch(f"/webhooks/{off['id']}", {"active": False})
    outside = subscribe(sandbox, "http://frameio-webhooks.invalid/hook", ["file.ready"])
    sandbox.deliver_webhook_event("file.ready", "3f0c2a6e-0000-4000-8000-000000000004")
    sandbox.wait_for(lambda: wanted.requests)
    sandbox.wait_for(lambda: any(d["webhook_id"] == outside["id"] for d in sandbox.state.webhook_deliveries))
    assert unwanted.requests == [] and inactive.requests == []
    refused = next(d for d in sandbox.state.webhook_deliveries if d["webhook_id"] == outside["id"])
    assert "webhook_hosts" in refused["error"]
