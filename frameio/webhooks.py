"""Frame.io webhooks: the signed receiver at /frameio/webhook/, each delivery stored once, the job that
works it, and the webhook's registration in the workspace.

Receiving (the view: milliseconds, no Frame.io call, because Frame.io counts > 5 s as a failure):

1. POST only. A body over MAX_BODY_BYTES is refused (413) before it is read whole.
2. `X-Frameio-Signature` must be `v0=` + hex HMAC-SHA256(secret, `v0:{X-Frameio-Request-Timestamp}:{raw
   body}`) for the stored secret of a registered webhook, compared with `hmac.compare_digest`. The
   timestamp must be within ±TOLERANCE_SECONDS of our clock. Anything else: 401 with an empty body
   (no hint of which check failed).
3. The body must be an event we can store: UTF-8 JSON nested at most MAX_DEPTH deep, no NaN, Infinity
   or number past 64 bits, no NUL or lone surrogate in a string (PostgreSQL's jsonb refuses them),
   and `type`, `resource.id` and `account.id` as strings that fit their columns (`parse_event`).
   Anything else signed is a 400, logged with the reason, and stored nowhere.
4. The delivery is stored once. Frame.io's payload carries ids only and no event or delivery id
   (`{"type", "resource": {"id", "type"}, "account", "workspace", "project", "user"}`), and a retry
   resends the same body with a new timestamp and signature. So the event's identity is the SHA-256
   of the payload's canonical JSON. A delivery that arrives again while its row waits or is being
   worked is counted, not stored or enqueued again. One that arrives after its job ran (a retry after
   a slow answer, or the same comment edited twice, which looks the same) queues the row again: the
   job reads the resource's current state, so running it again changes nothing twice, and the second
   edit is not lost.
5. The answer is 202, and the job (`frameio.tasks.webhook_process`, the delivery id) is enqueued
   after commit.

The secret is Fernet-encrypted at rest (`frameio.crypto`) and never reaches a log line, an exception
message, a task argument or the admin.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from frameio import jobs, review
from frameio.auth import build_client, effective_target, target_or_connect
from frameio.client import FrameioClient, FrameioError, redact
from frameio.crypto import TokenDecryptError, decrypt, encrypt
from frameio.models import FrameioWebhook, WebhookDelivery

logger = logging.getLogger(__name__)

# What postflow subscribes to [frameio-v4.md §6]. comment.uncompleted makes "completions follow"
# work both ways.
EVENTS: tuple[str, ...] = (
    "file.ready",
    "file.upload.completed",
    "file.versioned",
    "comment.created",
    "comment.updated",
    "comment.deleted",
    "comment.completed",
    "comment.uncompleted",
    "metadata.value.updated",
)
WEBHOOK_NAME = "postflow review"
MAX_BODY_BYTES = 64 * 1024  # the ids-only payloads are a few hundred bytes
TOLERANCE_SECONDS = 300  # the docs say "within 5 minutes"; ±, so a clock ahead of ours is bounded too
SIGNATURE_HEADER = "X-Frameio-Signature"
TIMESTAMP_HEADER = "X-Frameio-Request-Timestamp"
MAX_ROUNDS = 5  # a job works a delivery again when it arrived again meanwhile, this many times at most
STUCK_AFTER = timedelta(minutes=10)  # a queued or processing delivery this old lost its job
RETRY_FAILED = 5  # failed deliveries are tried again by the reconciliation this many times
MAX_DEPTH = 16  # Frame.io's payload is 2 deep; json.loads recurses once per level and overflows near 1,000
INT_RANGE = range(-(2**63), 2**63)  # no id is a number; a bigger one is something no reader holds exactly
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates: refused by PostgreSQL's jsonb
# The ids postflow stores (each a column of WebhookDelivery); `resource` and `account` are required.
ID_COLUMNS = {
    "resource": "resource_id",
    "account": "account_id",
    "workspace": "workspace_id",
    "project": "project_id",
    "user": "user_id",
}
REQUIRED_PARTS = ("resource", "account")


class WebhookError(Exception):
    """Registering, checking or removing the webhook cannot be done; the message says what to do."""


class BadEvent(ValueError):
    """A signed body that is not an event postflow can store; the message says why (for the log)."""


# --- signature ---------------------------------------------------------------------------------------


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v0=` + hex HMAC-SHA256(secret, `v0:{timestamp}:{body}`), as Frame.io signs a delivery."""
    message = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@sensitive_variables("secrets", "secret")
def verify(*, body: bytes, timestamp: str, provided: str, secrets: list[str], now: float | None = None) -> bool:
    """True when `provided` is a fresh signature of `body` by one of `secrets` (constant-time)."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12 or not provided.isascii():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    matches = [hmac.compare_digest(signature(s, timestamp, body).encode(), provided.encode()) for s in secrets]
    return any(matches)  # every secret compared: the time taken says nothing about which one matched


@sensitive_variables()
def _secrets() -> list[str]:
    found = []
    for secret_enc in FrameioWebhook.objects.values_list("secret_enc", flat=True):
        try:
            found.append(decrypt(secret_enc))
        except TokenDecryptError:
            logger.error("a stored webhook secret cannot be decrypted: register the webhook again")
    return [s for s in found if s]


# --- the receiver ------------------------------------------------------------------------------------


def _read_limited(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is over MAX_BODY_BYTES (checked before reading when declared)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if declared > MAX_BODY_BYTES:
        return None
    body = request.read(MAX_BODY_BYTES + 1)
    return None if len(body) > MAX_BODY_BYTES else body


@csrf_exempt  # Frame.io cannot send a CSRF token; the HMAC signature is what authenticates
@require_POST
def receive(request: HttpRequest) -> HttpResponse:
    body = _read_limited(request)
    if body is None:
        return HttpResponse(status=413)
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    provided = request.headers.get(SIGNATURE_HEADER, "")
    if not verify(body=body, timestamp=timestamp, provided=provided, secrets=_secrets()):
        logger.warning("webhook refused: missing, wrong or stale signature (timestamp %r)", timestamp[:20])
        return HttpResponse(status=401)
    try:
        payload = parse_event(body)
    except BadEvent as exc:
        logger.warning("webhook refused: a signed body that is not an event: %s", exc)
        return HttpResponse(status=400)
    delivery, enqueued = delivery_receive(payload=payload, signed_at=int(timestamp))
    logger.info(
        "webhook %s %s: delivery %s (%s)",
        delivery.event_type,
        delivery.resource_id,
        delivery.pk,
        "queued" if enqueued else f"already had it, received {delivery.received_count}x",
    )
    return HttpResponse(status=202 if enqueued else 200)


# --- the body --------------------------------------------------------------------------------------


def parse_event(body: bytes) -> dict:
    """The signed body as an event dict, or BadEvent saying why it cannot be one (module doc, 3.)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadEvent(f"not UTF-8 (byte {exc.start})") from None
    if _deeper_than(text, MAX_DEPTH):
        raise BadEvent(f"nested deeper than {MAX_DEPTH} levels")
    try:
        payload = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except ValueError as exc:  # JSONDecodeError, and what the three hooks raise
        raise BadEvent(f"not JSON: {str(exc)[:200]}") from None
    if _has_unstorable_text(payload):
        raise BadEvent("a string holds NUL or a lone surrogate")
    _check_fields(payload)
    return payload


def _deeper_than(text: str, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit`, brackets in strings not counted.
    Checked before json.loads, whose recursion a deep body exhausts (RecursionError, a 500)."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif in_string:
            escaped, in_string = char == "\\", char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999999 reads as inf, which no JSON column stores
        raise ValueError(f"{text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 20 or int(text) not in INT_RANGE:  # length first: int() of thousands of digits is slow
        raise ValueError(f"{text[:40]} is out of range")
    return int(text)


def _has_unstorable_text(value: object) -> bool:
    """NUL or a lone surrogate in any string or key; the depth is bounded, so recursing is safe."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_unstorable_text(key) or _has_unstorable_text(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_unstorable_text(item) for item in value)
    return False


def _check_fields(payload: object) -> None:
    """An object with `type` and the ids postflow reads, each a string its column holds."""
    if not isinstance(payload, dict):
        raise BadEvent(f"a JSON {type(payload).__name__}, not an object")
    _check_string(payload.get("type"), "type", _max_length("event_type"), required=True)
    resource = payload.get("resource")
    if isinstance(resource, dict):
        _check_string(resource.get("type"), "resource.type", _max_length("resource_type"), required=False)
    for part, column in ID_COLUMNS.items():
        _check_id(payload, part, column)


def _check_id(payload: dict, part: str, column: str) -> None:
    value = payload.get(part)
    required = part in REQUIRED_PARTS
    if value is None and not required:
        return
    if not isinstance(value, dict):
        raise BadEvent(f"{part} is not an object")
    _check_string(value.get("id"), f"{part}.id", _max_length(column), required=required)


def _check_string(value: object, name: str, limit: int, *, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value):
        raise BadEvent(f"{name} is not a non-empty string" if required else f"{name} is not a string")
    if len(value) > limit:
        raise BadEvent(f"{name} is {len(value)} characters long; at most {limit} fit")


def _max_length(column: str) -> int:
    return WebhookDelivery._meta.get_field(column).max_length


def event_key(payload: dict) -> str:
    """The event's identity: SHA-256 of its canonical JSON (Frame.io sends no event id)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _id_of(payload: dict, name: str, field: str = "id") -> str:
    part = payload.get(name)
    return str(part.get(field) or "")[:64] if isinstance(part, dict) else ""


def _enqueue(delivery_id: int) -> None:
    transaction.on_commit(lambda: jobs.enqueue_webhook_process(delivery_id))


@transaction.atomic
def delivery_receive(*, payload: dict, signed_at: int) -> tuple[WebhookDelivery, bool]:
    """Store the delivery once; returns it and whether a job was enqueued for it."""
    now = timezone.now()
    signed = datetime.fromtimestamp(signed_at, tz=UTC)
    delivery, created = WebhookDelivery.objects.get_or_create(
        key=event_key(payload),
        defaults={
            "event_type": payload["type"][:64],
            "resource_type": _id_of(payload, "resource", "type")[:32],
            "resource_id": _id_of(payload, "resource"),
            "account_id": _id_of(payload, "account"),
            "workspace_id": _id_of(payload, "workspace"),
            "project_id": _id_of(payload, "project"),
            "user_id": _id_of(payload, "user"),
            "payload": payload,
            "signed_at": signed,
            "first_received_at": now,
            "last_received_at": now,
        },
    )
    if created:
        _enqueue(delivery.pk)
        return delivery, True
    # Counted first: a job finishing meanwhile then sees received_count moved and works it again.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        received_count=F("received_count") + 1, last_received_at=now, signed_at=signed
    )
    rearmed = WebhookDelivery.objects.filter(pk=delivery.pk, state__in=WebhookDelivery.FINISHED).update(
        state=WebhookDelivery.State.QUEUED
    )
    if rearmed:
        _enqueue(delivery.pk)
    delivery.refresh_from_db()
    return delivery, bool(rearmed)


# --- the job -----------------------------------------------------------------------------------------


def _claim(delivery_id: int) -> bool:
    return bool(
        WebhookDelivery.objects.filter(pk=delivery_id, state=WebhookDelivery.State.QUEUED).update(
            state=WebhookDelivery.State.PROCESSING,
            claimed_count=F("received_count"),
            attempts=F("attempts") + 1,
            claimed_at=timezone.now(),
        )
    )


def _finish(delivery_id: int, state: str, outcome: str) -> bool:
    """Record the result, unless the delivery arrived again while it was worked (then False)."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery_id, state=WebhookDelivery.State.PROCESSING, received_count=F("claimed_count")
        ).update(state=state, outcome=outcome[:2000], processed_at=timezone.now())
    )


def delivery_process(*, delivery_id: int, client: FrameioClient | None = None) -> WebhookDelivery | None:
    """The job: claim the delivery (a second job for it finds it claimed and returns), handle it,
    record the outcome. Errors are recorded (failed); the reconciliation tries again."""
    for _ in range(MAX_ROUNDS):
        if not _claim(delivery_id):
            break
        delivery = WebhookDelivery.objects.get(pk=delivery_id)
        try:
            state, outcome = _handle(delivery, client)
        except FrameioError as exc:
            state, outcome = WebhookDelivery.State.FAILED, str(exc)
            logger.warning("webhook delivery %s (%s) failed: %s", delivery_id, delivery.event_type, exc)
        except Exception as exc:  # recorded, so the reconciliation retries it instead of leaving it processing
            state, outcome = WebhookDelivery.State.FAILED, redact(f"{type(exc).__name__}: {exc}")
            logger.exception("webhook delivery %s (%s) failed", delivery_id, delivery.event_type)
        if _finish(delivery_id, state, outcome):
            break
        WebhookDelivery.objects.filter(pk=delivery_id, state=WebhookDelivery.State.PROCESSING).update(
            state=WebhookDelivery.State.QUEUED
        )
    return WebhookDelivery.objects.filter(pk=delivery_id).first()


def _handle(delivery: WebhookDelivery, client: FrameioClient | None) -> tuple[str, str]:
    target = effective_target()
    if target.account_id and delivery.account_id and delivery.account_id != target.account_id:
        return WebhookDelivery.State.IGNORED, f"account {delivery.account_id} is not the connected account"
    event, resource = delivery.event_type, delivery.resource_id
    if not resource:
        return WebhookDelivery.State.IGNORED, "no resource id"
    if event.startswith("comment."):
        outcome = review.comment_sync(comment_id=resource, deleted=event == "comment.deleted", client=client)
    elif event == "metadata.value.updated":
        outcome = review.status_sync(file_id=resource, client=client)
    elif event == "file.ready":
        outcome = review.file_ready(file_id=resource)
    elif event in ("file.upload.completed", "file.versioned"):
        outcome = "nothing to do: the upload job follows its own files"
    else:
        return WebhookDelivery.State.IGNORED, f"{event}: not an event postflow subscribes to"
    return WebhookDelivery.State.DONE, outcome


def deliveries_requeue(*, now: datetime | None = None) -> int:
    """Enqueue again what lost its job (queued or processing for STUCK_AFTER: a worker died) and
    what failed fewer than RETRY_FAILED times. Run by the review reconciliation."""
    now = now or timezone.now()
    stale = now - STUCK_AFTER
    stuck_processing = Q(state=WebhookDelivery.State.PROCESSING, claimed_at__lt=stale)
    WebhookDelivery.objects.filter(stuck_processing).update(state=WebhookDelivery.State.QUEUED)
    due = WebhookDelivery.objects.filter(
        Q(state=WebhookDelivery.State.QUEUED, last_received_at__lt=stale)
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale))
        | Q(state=WebhookDelivery.State.FAILED, attempts__lt=RETRY_FAILED, processed_at__lt=now - timedelta(minutes=1))
    )
    ids = list(due.values_list("pk", flat=True)[:500])
    WebhookDelivery.objects.filter(pk__in=ids, state=WebhookDelivery.State.FAILED).update(
        state=WebhookDelivery.State.QUEUED
    )
    for delivery_id in ids:
        jobs.enqueue_webhook_process(delivery_id)
    return len(ids)


# --- registration ------------------------------------------------------------------------------------


def check_url(url: str) -> str:
    """An https URL (http only on loopback, for the sandbox); WebhookError otherwise."""
    parts = urlsplit(url.strip())
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("http", "https") or not parts.hostname or (parts.scheme == "http" and not loopback):
        raise WebhookError(f"the webhook URL must be https (http only on loopback), got {url!r}")
    if parts.query or parts.fragment:
        raise WebhookError("the webhook URL must not have a query string or fragment")
    return url.strip()


def webhook_url() -> str:
    """Where Frame.io should post: FRAMEIO_WEBHOOK_URL, else POSTFLOW_PUBLIC_URL/frameio/webhook/, else, with
    the sandbox embedded in the web process (`make run`), that process's own address; "" when none is known."""
    if settings.FRAMEIO_WEBHOOK_URL:
        return settings.FRAMEIO_WEBHOOK_URL
    path = reverse("frameio:webhook")
    if settings.POSTFLOW_PUBLIC_URL:
        return settings.POSTFLOW_PUBLIC_URL.rstrip("/") + path
    if settings.FRAMEIO_SANDBOX_EMBEDDED:
        parts = urlsplit(settings.FRAMEIO_SANDBOX_URL)
        return f"{parts.scheme}://{parts.netloc}{path}"
    return ""


def webhook_register_local() -> Registration | None:
    """With the embedded sandbox, the review webhook at the web process's own address, registered on the
    worker's first start (the minute schedule runs this at once, then every minute: a web process not
    listening yet is tried again). Idempotent: once stored for that URL, nothing calls Frame.io again.
    None when there is nothing to do (not the embedded sandbox, no workspace yet, already registered)."""
    if not settings.FRAMEIO_SANDBOX_EMBEDDED:
        return None
    url = webhook_url()
    if FrameioWebhook.objects.filter(url=url).exists():
        return None
    try:
        if not target_or_connect().workspace_id:
            return None
        registration = webhook_register(url=url)
    except (WebhookError, FrameioError, requests.RequestException) as exc:
        logger.warning("the sandbox's review webhook is not registered yet (%s); trying again next minute", exc)
        return None
    logger.info("review webhook registered with the embedded sandbox at %s", url)
    return registration


def _workspace() -> tuple[str, str]:
    target = target_or_connect()  # Server-to-Server: connect now, choosing the only account and workspace
    if not target.account_id or not target.workspace_id:
        raise WebhookError("Frame.io has no account and workspace chosen yet: connect on /frameio/connect/")
    return target.account_id, target.workspace_id


@dataclass(frozen=True)
class Registration:
    webhook: FrameioWebhook
    created: bool  # False: the registered one was already right
    removed: tuple[str, ...] = ()  # ids of the webhooks it replaced


@sensitive_variables("created")
def webhook_register(*, url: str, replace: bool = False, client: FrameioClient | None = None) -> Registration:
    """Register the review webhook for the workspace, store its secret encrypted. Idempotent.

    If the stored webhook still exists in Frame.io with this URL and these events, nothing changes
    (unless `replace`). Otherwise a new one is created and stored, then the old one and any stray
    webhook to the same URL (a crash before its secret was stored) are deleted.
    """
    url = check_url(url)
    account_id, workspace_id = _workspace()
    client = client or build_client()
    remote = client.list_webhooks(account_id=account_id, workspace_id=workspace_id)
    stored = FrameioWebhook.objects.filter(workspace_id=workspace_id).first()
    current = next((w for w in remote if stored and w.id == stored.webhook_id), None)
    if (
        not replace
        and current is not None
        and current.url == url
        and current.active is not False
        and set(EVENTS) <= set(current.events or ())
        and _decryptable(stored)
    ):
        return Registration(stored, created=False)
    created = client.create_webhook(
        account_id=account_id, workspace_id=workspace_id, name=WEBHOOK_NAME, url=url, events=list(EVENTS)
    )
    if not created.secret:
        raise WebhookError(f"Frame.io created webhook {created.id} without a secret; remove it and try again")
    with transaction.atomic():
        FrameioWebhook.objects.filter(workspace_id=workspace_id).delete()
        webhook = FrameioWebhook.objects.create(
            account_id=account_id,
            workspace_id=workspace_id,
            webhook_id=created.id,
            name=created.name or WEBHOOK_NAME,
            url=url,
            events=list(created.events or EVENTS),
            secret_enc=encrypt(created.secret),
            registered_at=timezone.now(),
        )
    stale = [w.id for w in remote if w.id != created.id and ((stored and w.id == stored.webhook_id) or w.url == url)]
    for webhook_id in stale:
        _delete_remote(client, account_id, webhook_id)
    logger.info("Frame.io webhook %s registered for workspace %s at %s", created.id, workspace_id, url)
    return Registration(webhook, created=True, removed=tuple(stale))


def _decryptable(webhook: FrameioWebhook) -> bool:
    try:
        return bool(decrypt(webhook.secret_enc))
    except TokenDecryptError:
        return False


def _delete_remote(client: FrameioClient, account_id: str, webhook_id: str) -> None:
    try:
        client.delete_webhook(account_id=account_id, webhook_id=webhook_id)
    except FrameioError as exc:
        if exc.status != 404:
            raise


def webhook_remove(*, client: FrameioClient | None = None) -> str | None:
    """Delete the workspace's webhook in Frame.io and here; returns its id (None: there was none)."""
    _, workspace_id = _workspace()
    stored = FrameioWebhook.objects.filter(workspace_id=workspace_id).first()
    if stored is None:
        return None
    _delete_remote(client or build_client(), stored.account_id, stored.webhook_id)
    stored.delete()
    logger.info("Frame.io webhook %s removed", stored.webhook_id)
    return stored.webhook_id


def webhook_status(*, client: FrameioClient | None) -> dict:
    """The webhook's state: stored, seen in Frame.io (when a client is given), deliveries.

    {"registered", "webhook_id", "url", "events", "problems": [...], "remote": "checked"|"not checked",
     "deliveries": {"last_received_at", "by_state": {...}, "stuck"}}
    """
    target = effective_target()
    stored = FrameioWebhook.objects.filter(workspace_id=target.workspace_id).first() if target.workspace_id else None
    now = timezone.now()
    by_state = dict(WebhookDelivery.objects.order_by().values_list("state").annotate(n=Count("pk")))
    last = WebhookDelivery.objects.aggregate(last=Max("last_received_at"))["last"]
    stuck = WebhookDelivery.objects.filter(
        state__in=[WebhookDelivery.State.QUEUED, WebhookDelivery.State.PROCESSING],
        last_received_at__lt=now - STUCK_AFTER,
    ).count()
    status = {
        "registered": stored is not None,
        "webhook_id": stored.webhook_id if stored else None,
        "url": stored.url if stored else None,
        "events": list(stored.events) if stored else [],
        "problems": [],
        "remote": "not checked",
        "deliveries": {"last_received_at": last.isoformat() if last else None, "by_state": by_state, "stuck": stuck},
    }
    if stored is None:
        return status
    problems = status["problems"]
    if not _decryptable(stored):
        problems.append("its secret cannot be decrypted (FRAMEIO_TOKEN_KEY or SECRET_KEY changed?): register again")
    missing = sorted(set(EVENTS) - set(stored.events))
    if missing:
        problems.append(f"not subscribed to {', '.join(missing)}: register again with --replace")
    if stuck:
        problems.append(f"{stuck} deliveries waiting over {STUCK_AFTER.seconds // 60} min: is the worker running?")
    if client is not None:
        remote = {w.id: w for w in client.list_webhooks(account_id=stored.account_id, workspace_id=stored.workspace_id)}
        status["remote"] = "checked"
        found = remote.get(stored.webhook_id)
        if found is None:
            problems.append("gone from Frame.io: register again")
        elif found.active is False:
            problems.append("inactive in Frame.io (migrated webhooks arrive disabled): register again")
        elif found.url != stored.url:
            problems.append(f"Frame.io posts to {found.url}, not {stored.url}: register again")
    return status


def webhook_health(client: FrameioClient | None) -> tuple[bool, str]:
    """(ok, one line) for frameio_health. Not registered is fine: review then comes back by polling."""
    status = webhook_status(client=client)
    if not status["registered"]:
        url = webhook_url()
        how = (
            f"manage.py frameio_webhook register (registers {url})"
            if url
            else "manage.py frameio_webhook register --url https://<host>/frameio/webhook/ "
            "(or set POSTFLOW_PUBLIC_URL=https://<host>, then no --url is needed)"
        )
        return True, f"not registered: comments and Status come back by polling only; register with {how}"
    deliveries = status["deliveries"]
    failed = deliveries["by_state"].get(WebhookDelivery.State.FAILED, 0)
    last = deliveries["last_received_at"] or "never"
    checked = "" if status["remote"] == "checked" else " (not checked in Frame.io)"
    detail = f"{status['url']}, {len(status['events'])} events{checked}; last delivery {last}; {failed} failed"
    if status["problems"]:
        return False, f"{detail}; " + "; ".join(status["problems"])
    return True, detail
