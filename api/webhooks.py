"""Outgoing webhooks: messages queued in the transaction of a change, sent signed after commit.

Signature, as Frame.io signs its own: `X-Postflow-Signature: v0=` + hex HMAC-SHA256(secret,
`v0:{X-Postflow-Request-Timestamp}:{raw body}`). A receiver recomputes it with its copy of the secret,
compares with `hmac.compare_digest`, and refuses a timestamp older than a few minutes (a replay).

A message is claimed with a conditional UPDATE (pending and due -> sending) that commits before the
POST, so two workers never send it at once; each POST is recorded with its answer. A 2xx answer makes it
sent; anything else (an error status, a timeout, a refused connection) sends it back to pending after a
backoff, until POSTFLOW_API_WEBHOOK_MAX_ATTEMPTS. Delivery is at least once (a lost 200 means a second
POST): receivers dedupe by `X-Postflow-Delivery`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import time
import uuid
from datetime import datetime, timedelta
from functools import partial

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from api import jobs
from api.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from frameio import crypto

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=5)  # far above one POST (POSTFLOW_API_WEBHOOK_TIMEOUT_SECONDS)
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
BATCH = 100
ALERT_RULE = "api_webhook_disabled"


# --- endpoints ----------------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def endpoint_set_secret(*, endpoint: WebhookEndpoint, secret: str) -> None:
    endpoint.secret_enc = crypto.encrypt(secret)


def endpoint_enable(*, endpoint_id: int, actor: str) -> bool:
    """A producer enables a disabled endpoint again: its failures forgotten, its alert resolved; the messages
    it held go out at the next flush."""
    done = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=False).update(
        enabled=True, consecutive_failures=0, disabled_at=None, disabled_reason=""
    )
    if done:
        from alerts.models import Alert
        from alerts.services import alert_resolve

        for alert_id in Alert.objects.filter(key=_alert_key(endpoint_id), state__in=Alert.UNRESOLVED).values_list(
            "pk", flat=True
        ):
            alert_resolve(alert_id=alert_id, actor=actor, note="the endpoint was enabled again")
    return bool(done)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{body}`)."""
    message = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# --- queueing (in the transaction of the change) ---------------------------------------------------


def webhooks_queue(*, kind: str, payload: dict) -> list[int]:
    """One message per enabled endpoint subscribed to `kind` (disabled ones too: they hold their messages
    until enabled again), each sent once the caller's transaction commits. Returns the message ids."""
    endpoints = [e for e in WebhookEndpoint.objects.only("pk", "kinds") if kind in (e.kinds or [])]
    created = []
    for endpoint in endpoints:
        message = WebhookMessage.objects.create(endpoint=endpoint, kind=kind, payload=payload)
        created.append(message.pk)
        transaction.on_commit(partial(jobs.enqueue_webhook_send, message.pk), robust=True)
    return created


# --- sending ---------------------------------------------------------------------------------------


def _claim(message_id: int, token: str, now: datetime) -> bool:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return bool(
        WebhookMessage.objects.filter(
            due, pk=message_id, state=WebhookMessage.State.PENDING, endpoint__enabled=True
        ).update(state=WebhookMessage.State.SENDING, claim=token, claimed_at=now, attempts=F("attempts") + 1)
    )


def webhook_send(
    *, message_id: int, session: requests.Session | None = None, now: datetime | None = None
) -> WebhookAttempt | None:
    """POST one message if this caller can claim it (None: not due, taken, sent, or its endpoint disabled)."""
    now = now or timezone.now()
    token = uuid.uuid4().hex
    if not _claim(message_id, token, now):
        return None
    message = WebhookMessage.objects.select_related("endpoint").get(pk=message_id)
    try:
        attempt = _post(message, session or _session())
    except Exception as exc:  # our own bug (the secret unreadable, ...): recorded like a failed POST
        logger.exception("webhook message %s: sending failed unexpectedly", message_id)
        attempt = WebhookAttempt(message=message, error=f"{type(exc).__name__} while sending"[:500])
    attempt.save()
    _finish(message, token, attempt, now)
    return attempt


def _post(message: WebhookMessage, session: requests.Session) -> WebhookAttempt:
    body = json.dumps(
        {"id": message.pk, "kind": message.kind, "created_at": message.created_at.isoformat(), "data": message.payload},
        separators=(",", ":"),
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Postflow-Event": message.kind,
        "X-Postflow-Delivery": str(message.pk),
        "X-Postflow-Request-Timestamp": timestamp,
        "X-Postflow-Signature": signature(crypto.decrypt(message.endpoint.secret_enc), timestamp, body),
    }
    started = time.monotonic()
    attempt = WebhookAttempt(message=message)
    try:
        # No redirects: a signed POST goes where it was configured to, or fails.
        answer = session.post(
            message.endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.POSTFLOW_API_WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        attempt.error = f"{type(exc).__name__}: no answer"[:500]  # never the URL: it may hold a key
    else:
        attempt.status_code = answer.status_code
        attempt.response = answer.text[:500]
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    return attempt


def _finish(message: WebhookMessage, token: str, attempt: WebhookAttempt, now: datetime) -> None:
    ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
    mine = WebhookMessage.objects.filter(pk=message.pk, claim=token)
    if ok:
        mine.update(state=WebhookMessage.State.SENT, sent_at=now, claim="", last_error="")
        WebhookEndpoint.objects.filter(pk=message.endpoint_id).update(consecutive_failures=0)
        return
    why = f"HTTP {attempt.status_code}" if attempt.status_code else attempt.error
    attempts = message.attempts  # read after the claim, which counted this one
    if attempts >= settings.POSTFLOW_API_WEBHOOK_MAX_ATTEMPTS:
        mine.update(
            state=WebhookMessage.State.FAILED, claim="", last_error=f"{why} (gave up after {attempts} attempts)"
        )
    else:
        retry_at = now + timedelta(seconds=backoff_seconds(attempts))
        mine.update(state=WebhookMessage.State.PENDING, claim="", last_error=why, next_attempt_at=retry_at)
    logger.warning("webhook message %s (%s) to %s: %s", message.pk, message.kind, message.endpoint.name, why)
    _count_failure(message.endpoint, why)


def backoff_seconds(attempts: int) -> float:
    """Exponential from BACKOFF_BASE_SECONDS, capped, with jitter (many messages failing at once spread out)."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311  (jitter, not a secret)


def _count_failure(endpoint: WebhookEndpoint, why: str) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.POSTFLOW_API_WEBHOOK_DISABLE_AFTER
    reason = f"{limit} failed attempts in a row (last: {why})"
    disabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True, consecutive_failures__gte=limit).update(
        enabled=False, disabled_at=timezone.now(), disabled_reason=reason[:500]
    )
    if disabled:  # once: the compare-and-set on `enabled`
        logger.error("outgoing webhook %s disabled: %s", endpoint.name, reason)
        _alert_disabled(endpoint, reason)


def _alert_key(endpoint_id: int) -> str:
    return f"{ALERT_RULE}:{endpoint_id}"


def _alert_disabled(endpoint: WebhookEndpoint, reason: str) -> None:
    from alerts.rules import Finding
    from alerts.services import alert_fire

    try:
        alert_fire(
            rule=ALERT_RULE,
            finding=Finding(
                key=_alert_key(endpoint.pk),
                title=f"Outgoing webhook {endpoint.name} disabled",
                detail=f"{reason}. Its messages wait; enable it again in the admin once the receiver is fixed.",
            ),
        )
    except Exception:
        logger.exception("outgoing webhook %s disabled, but its alert could not be opened", endpoint.name)


def webhooks_reap(*, now: datetime | None = None) -> int:
    """A claim older than CLAIM_TIMEOUT belongs to a sender that died: the message is sent again (at least once)."""
    stale = (now or timezone.now()) - CLAIM_TIMEOUT
    return WebhookMessage.objects.filter(state=WebhookMessage.State.SENDING, claimed_at__lt=stale).update(
        state=WebhookMessage.State.PENDING, claim="", last_error="the sender stopped before recording an answer"
    )


def webhooks_flush(*, now: datetime | None = None, session: requests.Session | None = None) -> dict[str, int]:
    """The schedule's job: reap dead claims, then send what is due for enabled endpoints, oldest first."""
    now = now or timezone.now()
    counts = {"reaped": webhooks_reap(now=now), "sent": 0, "not_sent": 0}
    due = WebhookMessage.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        state=WebhookMessage.State.PENDING,
        endpoint__enabled=True,
    ).order_by("id")
    session = session or _session()
    for message_id in list(due.values_list("pk", flat=True)[:BATCH]):
        attempt = webhook_send(message_id=message_id, session=session, now=now)
        if attempt is not None:
            ok = attempt.status_code is not None and 200 <= attempt.status_code < 300
            counts["sent" if ok else "not_sent"] += 1
    return counts


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "postflow (+outgoing webhooks)"
    return session
