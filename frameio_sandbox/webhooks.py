"""Webhook events and their signed delivery, as Frame.io documents them.

An event carries ids only: {"type", "resource": {"id", "type"}, "account": {"id"}, "workspace": {"id"},
"project": {"id"}, "user": {"id"}}. It goes to every active webhook of the event's workspace that
subscribed to its type, as a POST with `User-Agent: Frame.io V4 API`, `X-Frameio-Request-Timestamp`
(epoch seconds at sending) and `X-Frameio-Signature: v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{raw
body}")>`. A non-2xx answer, a connection error, or an answer slower than `webhook_timeout` (5 s) is a
failure; there are `webhook_attempts` (5) attempts in all, retried after 15 s, 30 s, 60 s, 120 s (each
+ up to 10 % jitter), every back-off multiplied by `webhook_retry_scale`. Deliveries go only to hosts in
`webhook_hosts` (loopback by default): a sandbox never calls out to the internet.
"""

import contextlib
import hashlib
import hmac
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from frameio_sandbox.state import ACCOUNT_ID, new_id

if TYPE_CHECKING:
    from frameio_sandbox.server import Sandbox

logger = logging.getLogger(__name__)

LOG_LIMIT = 10_000  # events and delivery attempts kept for inspection; older ones are dropped

EVENTS = (
    "file.created",
    "file.deleted",
    "file.ready",
    "file.updated",
    "file.upload.completed",
    "file.versioned",
    "file.copied",
    "folder.created",
    "folder.deleted",
    "folder.updated",
    "folder.copied",
    "comment.completed",
    "comment.created",
    "comment.deleted",
    "comment.uncompleted",
    "comment.updated",
    "customfield.created",
    "customfield.updated",
    "customfield.deleted",
    "metadata.value.updated",
    "project.created",
    "project.deleted",
    "project.updated",
    "collection.created",
    "collection.updated",
    "collection.deleted",
    "share.created",
    "share.updated",
    "share.deleted",
    "share.viewed",
)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class WebhookDispatcher:
    def __init__(self, sb: "Sandbox") -> None:
        self.sb = sb
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="frameio-sandbox-webhook")
        self._rng = random.Random(sb.config.seed)  # noqa: S311 - retry jitter, not crypto
        self._rng_lock = threading.Lock()

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def emit(
        self,
        event_type: str,
        resource_type: str,
        resource_id: str,
        *,
        project_id: str | None = None,
        workspace_id: str | None = None,
        user_id: str | None = None,
    ) -> dict:
        """Record an event and schedule its delivery to the webhooks that want it."""
        sb = self.sb
        with sb.state.lock:
            workspace_id = workspace_id or sb.state.workspace_of_project(project_id)
            event = {
                "type": event_type,
                "resource": {"id": resource_id, "type": resource_type},
                "account": {"id": ACCOUNT_ID},
                "workspace": {"id": workspace_id},
                "project": {"id": project_id},
                "user": {"id": user_id or sb.current_user_id()},
            }
            sb.state.events.append(event)
            del sb.state.events[:-LOG_LIMIT]
            targets = [
                w["id"]
                for w in sb.state.webhooks.values()
                if w["active"] and w["workspace_id"] == workspace_id and event_type in w["events"]
            ]
        body = json.dumps(event, separators=(",", ":")).encode()
        delivery_id = new_id()
        for webhook_id in targets:
            sb.scheduler.call_later(0, lambda w=webhook_id: self._submit(w, delivery_id, event_type, body, 1))
        return event

    def _submit(self, webhook_id: str, delivery_id: str, event_type: str, body: bytes, attempt: int) -> None:
        with contextlib.suppress(RuntimeError):  # RuntimeError: the sandbox is stopping
            self._pool.submit(self._attempt, webhook_id, delivery_id, event_type, body, attempt)

    def _attempt(self, webhook_id: str, delivery_id: str, event_type: str, body: bytes, attempt: int) -> None:
        sb = self.sb
        with sb.state.lock:
            webhook = sb.state.webhooks.get(webhook_id)
            if webhook is None or not webhook["active"]:
                return
            url, secret = webhook["url"], webhook["_secret"]
        timestamp = str(int(sb.clock.now()))
        status, error, started = None, None, time.monotonic()
        target = urlsplit(url)
        if target.scheme not in ("http", "https") or target.hostname not in sb.config.webhook_hosts:
            error = f"not an http(s) URL on a host in the sandbox's webhook_hosts: {target.scheme}://{target.hostname}"
        else:
            status, error = self._post(url, body, timestamp, secret)
        elapsed = time.monotonic() - started
        if error is None and elapsed > sb.config.webhook_timeout:
            error = f"answered after {elapsed:.1f} s"
        ok = error is None and status is not None and 200 <= status < 300
        with sb.state.lock:
            sb.state.webhook_deliveries.append(
                {
                    "delivery_id": delivery_id,
                    "webhook_id": webhook_id,
                    "event_type": event_type,
                    "attempt": attempt,
                    "status": status,
                    "error": error,
                    "ok": ok,
                    "at": time.monotonic(),
                    "timestamp": timestamp,
                }
            )
            del sb.state.webhook_deliveries[:-LOG_LIMIT]
        if ok or attempt >= sb.config.webhook_attempts:
            if not ok:
                logger.info("webhook %s gave up on %s after %d attempts", webhook_id, event_type, attempt)
            return
        delay = self.backoff(attempt)
        sb.scheduler.call_later(delay, lambda: self._submit(webhook_id, delivery_id, event_type, body, attempt + 1))

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt `attempt + 1`: 15 s, 30 s, 60 s, 120 s, + up to 10 % jitter, scaled."""
        with self._rng_lock:
            jitter = 1 + 0.1 * self._rng.random()
        config = self.sb.config
        return config.webhook_retry_base * 2 ** (attempt - 1) * jitter * config.webhook_retry_scale

    def _post(self, url: str, body: bytes, timestamp: str, secret: str) -> tuple[int | None, str | None]:
        request = urllib.request.Request(  # noqa: S310 - the scheme and host are checked against webhook_hosts
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Frame.io V4 API",
                "X-Frameio-Request-Timestamp": timestamp,
                "X-Frameio-Signature": sign(secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.sb.config.webhook_timeout) as answer:  # noqa: S310
                answer.read()
                return answer.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
