"""Discord through channel webhooks: one POST per message, with `?wait=true` so that a success
carries the message id (proof of delivery). No retries here: the outbox decides (alerts.services).

The webhook URL is a secret (its path holds the token): it is passed in, never stored, logged or put
in an exception; errors keep only the exception's type or Discord's own message.
"""

from __future__ import annotations

import hashlib
import hmac

import requests
from django.conf import settings
from urllib3.exceptions import MaxRetryError, NewConnectionError

from alerts.notifiers import Outcome, Result

TIMEOUT = (5, 15)  # connect, read
# Answers that prove the message was not created: the edge refused or never reached Discord.
NOT_CREATED = frozenset({408, 429, 503, 521, 522, 523})
GONE = frozenset({401, 403, 404})  # invalid token, no access, unknown webhook
# https://discord.com/developers/docs/resources/message#embed-object-embed-limits
LIMITS = {"title": 256, "description": 4096, "field_name": 256, "field_value": 1024, "fields": 25, "footer": 2048}
COLORS = {"info": 0x0969DA, "ok": 0x2E7D32, "warning": 0xE8710A, "critical": 0xCF222E, "neutral": 0x5F6368}


def post(url: str, body: dict, *, session: requests.Session) -> Outcome:
    """Execute the webhook once and classify the answer."""
    try:
        resp = session.post(url, params={"wait": "true"}, json=body, timeout=TIMEOUT)
    except requests.RequestException as exc:
        result = Result.RETRY if _never_connected(exc) else Result.UNKNOWN
        return Outcome(result, f"{type(exc).__name__} (no answer)")
    status = resp.status_code
    pause = _pause(resp)
    if status in (200, 204):
        return Outcome(Result.SENT, remote_id=_message_id(resp) if status == 200 else "", pause=pause)
    detail = f"HTTP {status}: {_discord_message(resp)}"
    if status == 429:
        return Outcome(Result.RETRY, detail, retry_after=_retry_after(resp), pause=pause)
    if status in GONE:
        return Outcome(Result.GONE, detail)
    if status in NOT_CREATED:
        return Outcome(Result.RETRY, detail, pause=pause)
    return Outcome(Result.REJECTED if status < 500 else Result.UNKNOWN, detail)


def _never_connected(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if isinstance(exc, requests.ConnectionError) and exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectionRefusedError)


def _json(resp: requests.Response) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message_id(resp: requests.Response) -> str:
    return str(_json(resp).get("id") or "")[:64]


def _discord_message(resp: requests.Response) -> str:
    body = _json(resp)
    return f"{body.get('message', resp.reason)} (code {body.get('code', '-')})"[:300]


def _retry_after(resp: requests.Response) -> float:
    """Seconds to wait: the body's `retry_after` (a float), else the Retry-After header."""
    for value in (_json(resp).get("retry_after"), resp.headers.get("Retry-After")):
        try:
            return max(0.0, float(value))
        except (TypeError, ValueError):
            continue
    return 1.0


def _pause(resp: requests.Response) -> float:
    """The bucket is empty: wait X-RateLimit-Reset-After before the next message (no 429 needed)."""
    if resp.headers.get("X-RateLimit-Remaining") != "0":
        return 0.0
    try:
        return max(0.0, float(resp.headers.get("X-RateLimit-Reset-After", "0")))
    except ValueError:
        return 0.0


def fingerprint(url: str) -> str:
    """Identifies a webhook without keeping its URL: an HMAC of it under SECRET_KEY."""
    return hmac.new(settings.SECRET_KEY.encode(), url.encode(), hashlib.sha256).hexdigest()[:32]


def webhook_id(url: str) -> str:
    """The numeric id in .../api/webhooks/<id>/<token>: not secret, shown in the admin."""
    parts = url.split("/api/webhooks/", 1)[-1].split("/")
    return parts[0][:32] if parts and parts[0].isdigit() else ""


# --- messages ----------------------------------------------------------------------------------------


def clip(text: str, limit: int) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed(
    *,
    title: str,
    color: str,
    description: str = "",
    url: str = "",
    fields: list[tuple[str, str]] | None = None,
    timestamp: str = "",
) -> dict:
    """A rich embed within Discord's limits (longer text is cut with an ellipsis)."""
    data: dict = {"title": clip(title, LIMITS["title"]), "color": COLORS[color], "footer": {"text": "postflow"}}
    if description:
        data["description"] = clip(description, LIMITS["description"])
    if url:
        data["url"] = url
    if timestamp:
        data["timestamp"] = timestamp
    data["fields"] = [
        {"name": clip(name, LIMITS["field_name"]), "value": clip(value, LIMITS["field_value"]) or "—", "inline": True}
        for name, value in (fields or [])[: LIMITS["fields"]]
    ]
    return data


def body(*embeds: dict, content: str = "") -> dict:
    """The webhook body: no mentions are ever parsed (a review note saying @everyone pings nobody)."""
    data = {"username": "postflow", "embeds": list(embeds), "allowed_mentions": {"parse": []}}
    if content:
        data["content"] = clip(content, 2000)
    return data
