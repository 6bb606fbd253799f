"""Frame.io v4 API client: one `requests.Session`, retries, pacing, pagination, typed results.

Contract:

- No Django model imports. The bearer token comes from `token_provider()`; after a 401 the client
  calls `on_unauthorized(rejected_token)` once (the auth layer refreshes) and retries once.
- Every call has a timeout. Retries use full jitter, `random(0, min(cap, base * 2**n))`, on 408, 429,
  5xx and connection errors, and honour `Retry-After`. 400/401/403/404/409/422 are never retried
  blindly. A POST creates something, so it is retried only when the server cannot have acted on it
  (408, 429, 503, or a connection that never opened); otherwise the caller gets a non-permanent
  `FrameioError` and decides (look the object up, then create again).
- Client-side pacing per endpoint from `x-ratelimit-limit / -remaining / -window`: Frame.io refills
  its buckets continuously (leaky bucket), so once the remaining count reaches zero the client waits
  `window / limit` per call instead of drawing a 429.
- One error type, `FrameioError(status, permanent, detail, endpoint)`. No secret reaches a log line or
  an exception text: tokens never appear, and URLs lose their query strings (`redact`).
- Results are plain dataclasses; each keeps the whole JSON object in `raw` (hidden from repr).

Endpoint facts: shared docs `frameio-v4.md` and the OpenAPI spec (`openapi-v4.json`); every URL
template below names its OpenAPI operationId, which is also its rate-limit bucket.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from postflow.lib.http import retry_after_seconds

logger = logging.getLogger(__name__)

# --- Endpoints --------------------------------------------------------------------------------------
# Docs: https://next.developer.frame.io/platform/docs (API reference, by operationId) and the shared
# notes `docs/frameio-v4.md` (section in brackets).


@dataclass(frozen=True)
class Endpoint:
    op: str  # OpenAPI operationId: the name in logs and errors, and the rate-limit bucket
    method: str
    path: str  # template with {placeholders}

    @property
    def creates(self) -> bool:
        """A POST creates a resource: repeating it after an ambiguous failure could create two."""
        return self.method == "POST"

    def format(self, **ids: str) -> str:
        return self.path.format(**{k: quote(str(v), safe="") for k, v in ids.items()})


_A = "/v4/accounts/{account_id}"
ME = Endpoint("users.show", "GET", "/v4/me")  # users.show [§2]
ACCOUNTS = Endpoint("accounts.index", "GET", "/v4/accounts")  # accounts.index [§2]
WORKSPACES = Endpoint("workspaces.index", "GET", _A + "/workspaces")  # workspaces.index [§2]
WORKSPACE = Endpoint("workspaces.show", "GET", _A + "/workspaces/{workspace_id}")  # workspaces.show [§15]
PROJECTS = Endpoint("projects.index", "GET", _A + "/workspaces/{workspace_id}/projects")  # projects.index [§2]
PROJECT_CREATE = Endpoint("projects.create", "POST", _A + "/workspaces/{workspace_id}/projects")  # projects.create
PROJECT = Endpoint("projects.show", "GET", _A + "/projects/{project_id}")  # projects.show [§2]
FOLDER = Endpoint("folders.show", "GET", _A + "/folders/{folder_id}")  # folders.show [§2]
FOLDER_DELETE = Endpoint("folders.delete", "DELETE", _A + "/folders/{folder_id}")  # folders.delete [§2]
FOLDER_CHILDREN = Endpoint("folders.index", "GET", _A + "/folders/{folder_id}/children")  # folders.index [§2]
FOLDER_CREATE = Endpoint("folders.create", "POST", _A + "/folders/{folder_id}/folders")  # folders.create [§2]
LOCAL_UPLOAD = Endpoint(  # files.create_local_upload [§3.1]
    "files.create_local_upload", "POST", _A + "/folders/{folder_id}/files/local_upload"
)
REMOTE_UPLOAD = Endpoint(  # files.create_remote_upload (pull mode: Frame.io fetches source_url)
    "files.create_remote_upload", "POST", _A + "/folders/{folder_id}/files/remote_upload"
)
FILE = Endpoint("files.show", "GET", _A + "/files/{file_id}")  # files.show [§3.4]
FILE_DELETE = Endpoint("files.delete", "DELETE", _A + "/files/{file_id}")  # files.delete [§3.4]
FILE_STATUS = Endpoint("files.show_file_upload_status", "GET", _A + "/files/{file_id}/status")  # [§3.2]
FILE_MOVE = Endpoint("files.move", "PATCH", _A + "/files/{file_id}/move")  # files.move [§3.4, §4]
VERSION_STACK_CREATE = Endpoint(  # version_stacks.create [§4]
    "version_stacks.create", "POST", _A + "/folders/{folder_id}/version_stacks"
)
VERSION_STACK = Endpoint("version_stacks.show", "GET", _A + "/version_stacks/{version_stack_id}")  # [§4]
VERSION_STACK_CHILDREN = Endpoint(  # version_stacks.index [§4]
    "version_stacks.index", "GET", _A + "/version_stacks/{version_stack_id}/children"
)
COMMENTS = Endpoint("comments.index", "GET", _A + "/files/{file_id}/comments")  # comments.index [§5]
COMMENT = Endpoint("comments.show", "GET", _A + "/comments/{comment_id}")  # comments.show [§5]
COMMENT_CREATE = Endpoint("comments.create", "POST", _A + "/files/{file_id}/comments")  # comments.create [§5]
FIELD_DEFINITIONS = Endpoint(  # metadata.field_definitions.index [§7]
    "metadata.field_definitions.index", "GET", _A + "/metadata/field_definitions"
)
FILE_METADATA = Endpoint("metadata.show", "GET", _A + "/files/{file_id}/metadata")  # metadata.show [§7]
METADATA_VALUES = Endpoint(  # metadata.bulk_update [§7]
    "metadata.bulk_update", "PATCH", _A + "/projects/{project_id}/metadata/values"
)
SHARES = Endpoint("shares.index", "GET", _A + "/projects/{project_id}/shares")  # shares.index [§8]
SHARE_CREATE = Endpoint("shares.create", "POST", _A + "/projects/{project_id}/shares")  # shares.create [§8]
WEBHOOKS = Endpoint("webhooks.index", "GET", _A + "/workspaces/{workspace_id}/webhooks")  # webhooks.index [§6]
WEBHOOK_CREATE = Endpoint(  # webhooks.create [§6]
    "webhooks.create", "POST", _A + "/workspaces/{workspace_id}/webhooks"
)
WEBHOOK_DELETE = Endpoint("webhooks.delete", "DELETE", _A + "/webhooks/{webhook_id}")  # webhooks.delete [§6]

MAX_PAGE_SIZE = 100  # [§2 Pagination]

# --- Errors and redaction ---------------------------------------------------------------------------

PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 410, 413, 415, 422})
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Statuses that prove the server did not act on the request: safe to repeat even a POST.
NOT_PROCESSED_STATUSES = frozenset({408, 429, 503})

_REDACTIONS = [
    (re.compile(r"(?i)\bbearer\s+[^\s,;'\"]+"), "Bearer [redacted]"),
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|id_token|client_secret|code_verifier|secret|signature"
            r"|x-amz-signature|x-amz-credential|x-amz-security-token)"
            r"(['\"]?\s*[:=]\s*['\"]?)[^\s&,;'\"}]+"
        ),
        r"\1\2[redacted]",
    ),
    (re.compile(r"(?i)(?<![\w-])(code|token)=[^\s&,;'\"}]+"), r"\1=[redacted]"),
    # Any URL or path keeps scheme, host and path; its query string (presigned signatures, cursors) goes.
    (re.compile(r"((?:https?://[^\s?#'\"<>]+|(?<![\w/])/[^\s?#'\"<>]*))\?[^\s'\"<>]*"), r"\1?[redacted]"),
]


def redact(text: str) -> str:
    """Strip bearer tokens, token/secret/code values and URL query strings from `text`."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str) -> str:
    """`scheme://host/path` of `url`, without its query string or fragment (for logs)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path


class FrameioError(Exception):
    """A Frame.io call failed.

    `status` is the HTTP status (None: no response). `permanent` means repeating the same call cannot
    succeed (bad input, no permission, not found); non-permanent errors may succeed later. `detail` is
    the API's own explanation, redacted; `endpoint` the operationId.
    """

    def __init__(self, status: int | None, permanent: bool, detail: str, endpoint: str) -> None:
        self.status = status
        self.permanent = permanent
        self.detail = redact(detail)
        self.endpoint = endpoint
        super().__init__(str(self))

    def __str__(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"Frame.io {self.endpoint}: {what}: {self.detail}"

    def __reduce__(self):  # picklable (django-q2 stores exceptions)
        return (type(self), (self.status, self.permanent, self.detail, self.endpoint))


class StaleReference(FrameioError):
    """Frame.io does not know an id the request named: 404, or 403 "not in this project" (an id that now
    belongs elsewhere). Whoever cached that id drops it and finds or makes the object again
    (`frameio.structure`); every other caller sees a FrameioError like any other."""


# A 403 that says the id named is not (or no longer) in the project the request is about.
_NOT_IN_PROJECT = re.compile(r"not (?:in|part of) (?:this|the) project", re.IGNORECASE)


def is_stale_reference(status: int | None, detail: str) -> bool:
    return status == 404 or (status == 403 and bool(_NOT_IN_PROJECT.search(detail)))


def _error_detail(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        text = " ".join(resp.text.split())[:200]
        return text or resp.reason or "no detail"
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list) and body["errors"]:
            parts = []
            for err in body["errors"]:
                if not isinstance(err, dict):
                    parts.append(str(err))
                    continue
                msg = str(err.get("detail") or err.get("title") or "error")
                pointer = (err.get("source") or {}).get("pointer") if isinstance(err.get("source"), dict) else None
                parts.append(f"{msg} ({pointer})" if pointer else msg)
            return "; ".join(parts)
        if body.get("error"):  # IMS style
            return str(body.get("error_description") or body["error"])
        if body.get("message"):
            return str(body["message"])
    return str(body)[:200]


# --- Results ----------------------------------------------------------------------------------------

T = TypeVar("T")


def _build(cls: type[T], data: dict[str, Any], **overrides: Any) -> T:
    names = {f.name for f in fields(cls)} - {"raw"}  # type: ignore[arg-type]
    values = {name: data.get(name) for name in names}
    values.update(overrides)
    return cls(raw=data, **values)


@dataclass(frozen=True, kw_only=True)
class Profile:
    id: str
    name: str | None = None
    email: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class Account:
    id: str
    display_name: str | None = None
    roles: list | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class Workspace:
    id: str
    name: str | None = None
    account_id: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class Project:
    id: str
    name: str | None = None
    workspace_id: str | None = None
    root_folder_id: str | None = None
    status: str | None = None
    view_url: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class Asset:
    """A folder child: `type` is "file", "folder" or "version_stack"."""

    id: str
    name: str | None = None
    type: str | None = None
    parent_id: str | None = None
    project_id: str | None = None
    view_url: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class Folder(Asset):
    pass


@dataclass(frozen=True, kw_only=True)
class File(Asset):
    status: str | None = None  # created -> uploaded -> transcoded
    file_size: int | None = None
    media_type: str | None = None


@dataclass(frozen=True)
class UploadUrl:
    size: int
    url: str = field(repr=False)  # presigned: a secret until it expires

    def __repr__(self) -> str:
        return f"UploadUrl(size={self.size}, url={redact_url(self.url)!r})"


@dataclass(frozen=True, kw_only=True)
class LocalUpload:
    file: File
    upload_urls: list[UploadUrl] = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class UploadStatus:
    id: str
    upload_complete: bool = False
    upload_failed: bool = False
    filetype: str | None = None
    uploaded_at: str | None = None
    upload_completed_at: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class VersionStack(Asset):
    head_version: File | None = None


@dataclass(frozen=True, kw_only=True)
class Comment:
    id: str
    file_id: str | None = None
    text: str | None = None
    timestamp: int | str | None = None  # a frame number from 1, or a timecode with timestamp_as_timecode
    duration: int | None = None
    completed_at: str | None = None
    created_at: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class SelectOption:
    id: str
    display_name: str


@dataclass(frozen=True, kw_only=True)
class FieldDefinition:
    id: str
    name: str | None = None
    field_type: str | None = None
    mutable: bool | None = None
    options: list[SelectOption] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class MetadataValue:
    field_definition_id: str
    field_definition_name: str | None = None
    field_type: str | None = None
    value: Any = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class Share:
    id: str
    name: str | None = None
    short_url: str | None = None
    access: str | None = None
    enabled: bool | None = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class Webhook:
    id: str
    name: str | None = None
    url: str | None = None
    events: list | None = None
    active: bool | None = None
    workspace_id: str | None = None
    secret: str | None = field(default=None, repr=False)  # only in the create response: store it then
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class RateLimit:
    limit: int
    remaining: int
    window_ms: int


def _file(data: dict) -> File:
    return _build(File, data)


def _asset(data: dict) -> Asset:
    kind = data.get("type")
    if kind == "file":
        return _file(data)
    if kind == "version_stack":
        return _version_stack(data)
    if kind == "folder":
        return _build(Folder, data)
    return _build(Asset, data)


def _version_stack(data: dict) -> VersionStack:
    head = data.get("head_version")
    return _build(VersionStack, data, head_version=_file(head) if isinstance(head, dict) else None)


def parse_comment(data: dict, *, parent: Comment | None = None) -> Comment:
    """A comment, or a reply in a comment's `replies` (`parent`): a reply keeps its own timestamp
    (usually none), as the webhook job, which reads it alone, sees it, and its thread's file. The
    author's name falls back to their e-mail."""
    owner = data.get("owner") if isinstance(data.get("owner"), dict) else {}
    return _build(
        Comment,
        data,
        id=str(data["id"]),
        file_id=data.get("file_id") or (parent.file_id if parent else None),
        owner_id=owner.get("id"),
        owner_name=owner.get("name") or owner.get("email"),
    )


def _field_definition(data: dict) -> FieldDefinition:
    config = data.get("field_configuration") or {}
    options = [
        SelectOption(id=o["id"], display_name=o.get("display_name", ""))
        for o in (config.get("options") or [])
        if isinstance(o, dict) and o.get("id")
    ]
    return _build(FieldDefinition, data, options=options)


# --- Retry policy and pacing -----------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5  # first try included
    base: float = 0.5  # seconds
    cap: float = 30.0  # seconds, the largest jittered sleep
    max_retry_after: float = 120.0  # a longer Retry-After is not waited for: the error goes to the caller

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Full jitter: random(0, min(cap, base * 2**attempt)); `attempt` counts from 0."""
        return rng() * min(self.cap, self.base * (2**attempt))


class RatePacer:
    """Per-endpoint token buckets fed by the x-ratelimit-* headers.

    Model: the server bucket holds `limit` tokens and refills continuously at `limit / window`. After
    each response the local estimate becomes min(estimate, server remaining) (the estimate already
    counts calls still in flight). Before each call one token is taken; when none is left the caller
    sleeps until one has refilled. Tokens may go negative: concurrent callers then queue one refill
    interval apart instead of all waking at once.
    """

    def __init__(self, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, list[float]] = {}  # key -> [limit, window_s, tokens, updated_at]
        self._seen: dict[str, RateLimit] = {}

    def _refill(self, bucket: list[float], now: float) -> None:
        limit, window_s, tokens, updated = bucket
        bucket[2] = min(limit, tokens + (now - updated) * limit / window_s)
        bucket[3] = now

    def acquire(self, key: str) -> float:
        """Take one token for `key`, sleeping if the bucket is empty. Returns the seconds slept."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return 0.0
            now = self._clock()
            self._refill(bucket, now)
            bucket[2] -= 1
            wait = 0.0 if bucket[2] >= 0 else -bucket[2] * bucket[1] / bucket[0]
        if wait > 0:
            logger.debug("frameio pacing %s: waiting %.2f s", key, wait)
            self._sleep(wait)
        return wait

    def try_acquire(self, key: str) -> bool:
        """Take one token for `key` if one is there now; never sleeps."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                return True
            self._refill(bucket, self._clock())
            if bucket[2] < 1:
                return False
            bucket[2] -= 1
            return True

    def observe(self, key: str, headers: Any) -> None:
        try:
            limit = int(headers["x-ratelimit-limit"])
            remaining = int(headers["x-ratelimit-remaining"])
            window_ms = int(headers["x-ratelimit-window"])
        except (KeyError, TypeError, ValueError):
            return
        if limit <= 0 or window_ms <= 0:
            return
        with self._lock:
            now = self._clock()
            self._seen[key] = RateLimit(limit=limit, remaining=remaining, window_ms=window_ms)
            bucket = self._buckets.get(key)
            if bucket is None or bucket[0] != limit or bucket[1] != window_ms / 1000:
                self._buckets[key] = [float(limit), window_ms / 1000, float(max(remaining, 0)), now]
                return
            self._refill(bucket, now)
            bucket[2] = min(bucket[2], float(remaining))

    def exhausted(self, key: str) -> None:
        """A 429: whatever we believed, the bucket is empty now."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is not None:
                self._refill(bucket, self._clock())
                bucket[2] = min(bucket[2], 0.0)

    def snapshot(self) -> dict[str, RateLimit]:
        with self._lock:
            return dict(self._seen)


# --- Session and client -----------------------------------------------------------------------------


class TimeoutSession(requests.Session):
    """A Session whose every request has a timeout unless the caller gives one."""

    def __init__(self, timeout: float | tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection was never established, so the server cannot have seen the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = exc.args[0]
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return isinstance(reason, NewConnectionError | ConnectionRefusedError)
    return False


@dataclass(frozen=True)
class CallRecord:
    """One HTTP exchange with Frame.io, for observers: each retry is its own record."""

    endpoint: str  # operationId
    method: str
    status: int | None  # None: no response (connection error, timeout)
    ms: float


# Called after every exchange, in the calling thread; an observer that raises is logged and ignored. The alerts
# app appends its metric recorder here (alerts/apps.py): this module stays free of models.
observers: list[Callable[[CallRecord], None]] = []


def _observe(record: CallRecord) -> None:
    for observer in list(observers):
        try:
            observer(record)
        except Exception:
            logger.warning("frameio call observer %s failed", getattr(observer, "__qualname__", observer))


TokenProvider = Callable[[], str]
UnauthorizedHook = Callable[[str], None]


class FrameioClient:
    """Frame.io v4 API client. One instance may serve several threads: the pacer is locked and the
    requests Session is only used to send (no cookies or adapters are changed after construction)."""

    def __init__(
        self,
        *,
        base_url: str,
        token_provider: TokenProvider,
        on_unauthorized: UnauthorizedHook | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        pacing: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        session: requests.Session | None = None,
        user_agent: str = "postflow (+frameio v4 client)",
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"Frame.io base URL must be http(s)://host[:port], got {redact_url(base_url)!r}")
        self.base_url = base_url.rstrip("/")
        self._origin = (parts.scheme, parts.netloc)
        self._token_provider = token_provider
        self._on_unauthorized = on_unauthorized
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._rng = rng
        self._pacer = RatePacer(clock=clock, sleep=sleep) if pacing else None
        self._timeout = (connect_timeout, timeout)
        self._session = session or TimeoutSession(self._timeout)
        self._session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})

    # -- plumbing

    def rate_limits(self) -> dict[str, RateLimit]:
        """The last x-ratelimit-* values seen, per operationId."""
        return self._pacer.snapshot() if self._pacer else {}

    def request(
        self,
        endpoint: Endpoint,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        path: str | None = None,
        wait: bool = True,
        **ids: str,
    ) -> requests.Response:
        """Call `endpoint` (path ids as keyword arguments) with retries, pacing and one re-auth.

        Returns the successful response; raises `FrameioError` otherwise. `path` replaces the
        formatted template (used to follow pagination links; it must stay under /v4/). With
        `wait=False` the call is made only if the endpoint's rate budget allows it now, and is not
        retried: for work that can be done later by someone else (a 429 FrameioError says so).
        """
        url = self.base_url + (path if path is not None else endpoint.format(**ids))
        attempt = 0
        reauthorized = False
        while True:
            if self._pacer and not wait and not self._pacer.try_acquire(endpoint.op):
                raise FrameioError(429, False, "rate budget spent: not waiting", endpoint.op)
            if self._pacer and wait:
                self._pacer.acquire(endpoint.op)
            token = self._token_provider()
            started = time.monotonic()
            try:
                resp = self._session.request(
                    endpoint.method,
                    url,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=self._timeout,
                )
            except requests.RequestException as exc:
                _observe(CallRecord(endpoint.op, endpoint.method, None, (time.monotonic() - started) * 1000))
                detail = f"{type(exc).__name__}: {exc}"
                retry_ok = not endpoint.creates or _never_sent(exc)
                if wait and retry_ok and attempt + 1 < self._retry.max_attempts:
                    delay = self._retry.backoff(attempt, self._rng)
                    logger.warning(
                        "frameio %s: %s; retry %d in %.1f s",
                        endpoint.op,
                        redact(type(exc).__name__),
                        attempt + 1,
                        delay,
                    )
                    self._sleep(delay)
                    attempt += 1
                    continue
                if not retry_ok:
                    detail += " (not retried: the server may have acted on it)"
                raise FrameioError(None, False, detail, endpoint.op) from None
            elapsed_ms = (time.monotonic() - started) * 1000
            _observe(CallRecord(endpoint.op, endpoint.method, resp.status_code, elapsed_ms))
            logger.debug("frameio %s %s -> %s in %.0f ms", endpoint.method, endpoint.op, resp.status_code, elapsed_ms)
            if self._pacer:
                self._pacer.observe(endpoint.op, resp.headers)
            status = resp.status_code
            if status < 400:
                return resp
            if status == 401 and self._on_unauthorized is not None and not reauthorized:
                # The token may have been revoked or refreshed elsewhere: refresh once, try once more.
                reauthorized = True
                logger.info("frameio %s: 401, refreshing the token and retrying once", endpoint.op)
                self._on_unauthorized(token)
                continue
            if status == 404 and endpoint.method == "DELETE" and attempt > 0:
                return resp  # an earlier attempt deleted it before its response was lost
            if status == 429 and self._pacer:
                self._pacer.exhausted(endpoint.op)
            delay = self._retry_delay(endpoint, resp, attempt) if wait else None
            if delay is None:
                raise self._error(endpoint, resp)
            logger.warning("frameio %s: HTTP %s; retry %d in %.1f s", endpoint.op, status, attempt + 1, delay)
            self._sleep(delay)
            attempt += 1

    def _retry_delay(self, endpoint: Endpoint, resp: requests.Response, attempt: int) -> float | None:
        status = resp.status_code
        if status not in RETRYABLE_STATUSES or attempt + 1 >= self._retry.max_attempts:
            return None
        if endpoint.creates and status not in NOT_PROCESSED_STATUSES:
            return None
        retry_after = retry_after_seconds(resp.headers.get("Retry-After"), self._wall_clock())
        if retry_after is not None:
            return retry_after if retry_after <= self._retry.max_retry_after else None
        return self._retry.backoff(attempt, self._rng)

    @staticmethod
    def _error(endpoint: Endpoint, resp: requests.Response) -> FrameioError:
        status = resp.status_code
        permanent = status in PERMANENT_STATUSES or (400 <= status < 500 and status not in RETRYABLE_STATUSES)
        detail = _error_detail(resp)
        if endpoint.creates and status in RETRYABLE_STATUSES and status not in NOT_PROCESSED_STATUSES:
            detail += " (not retried: the server may have acted on it)"
        kind = StaleReference if is_stale_reference(status, detail) else FrameioError
        return kind(status, permanent, detail, endpoint.op)

    def _data(self, endpoint: Endpoint, *, params=None, json=None, **ids: str) -> Any:
        resp = self.request(endpoint, params=params, json=json, **ids)
        try:
            body = resp.json()
        except ValueError:
            raise FrameioError(resp.status_code, False, "response is not JSON", endpoint.op) from None
        if not isinstance(body, dict) or "data" not in body:
            raise FrameioError(resp.status_code, False, "response has no 'data' envelope", endpoint.op)
        return body["data"]

    def paginate(
        self,
        endpoint: Endpoint,
        *,
        params: dict[str, Any] | None = None,
        page_size: int | None = MAX_PAGE_SIZE,
        **ids: str,
    ) -> Iterator[dict]:
        """Yield every item of a list endpoint, following `links.next`.

        `links.next` carries only the cursor, so the other query parameters (page_size, include, sort,
        filters) are sent again on every page. A next link to another host is refused: following it
        would hand our bearer token to someone else.
        """
        base_params = {k: v for k, v in (params or {}).items() if v is not None}
        if page_size:
            base_params["page_size"] = min(page_size, MAX_PAGE_SIZE)
        path: str | None = None
        query = dict(base_params)
        seen_cursors: set[str] = set()
        while True:
            resp = self.request(endpoint, params=query, path=path, **ids)
            try:
                body = resp.json()
            except ValueError:
                raise FrameioError(resp.status_code, False, "response is not JSON", endpoint.op) from None
            yield from body.get("data") or []
            next_link = (body.get("links") or {}).get("next")
            if not next_link:
                return
            parts = urlsplit(next_link)
            if (parts.scheme or parts.netloc) and (parts.scheme, parts.netloc) != self._origin:
                raise FrameioError(None, True, "links.next points to another host; not followed", endpoint.op)
            if not parts.path.startswith("/v4/"):
                raise FrameioError(None, True, "links.next is not a /v4/ path", endpoint.op)
            cursor = dict(parse_qsl(parts.query))
            key = parts.path + "?" + repr(sorted(cursor.items()))
            if key in seen_cursors:
                raise FrameioError(None, False, "links.next repeats a page already read", endpoint.op)
            seen_cursors.add(key)
            path = parts.path
            query = {**base_params, **cursor}

    # -- identity and navigation

    def me(self) -> Profile:
        return _build(Profile, self._data(ME))

    def list_accounts(self) -> list[Account]:
        return [_build(Account, a) for a in self.paginate(ACCOUNTS)]

    def list_workspaces(self, *, account_id: str) -> list[Workspace]:
        return [_build(Workspace, w) for w in self.paginate(WORKSPACES, account_id=account_id)]

    def show_workspace(self, *, account_id: str, workspace_id: str) -> Workspace:
        return _build(Workspace, self._data(WORKSPACE, account_id=account_id, workspace_id=workspace_id))

    def list_projects(self, *, account_id: str, workspace_id: str) -> list[Project]:
        items = self.paginate(PROJECTS, account_id=account_id, workspace_id=workspace_id)
        return [_build(Project, p) for p in items]

    def create_project(
        self, *, account_id: str, workspace_id: str, name: str, restricted: bool | None = None
    ) -> Project:
        data: dict[str, Any] = {"name": name}
        if restricted is not None:
            data["restricted"] = restricted
        body = {"data": data}
        return _build(Project, self._data(PROJECT_CREATE, json=body, account_id=account_id, workspace_id=workspace_id))

    def show_project(self, *, account_id: str, project_id: str) -> Project:
        return _build(Project, self._data(PROJECT, account_id=account_id, project_id=project_id))

    # -- folders

    def create_folder(self, *, account_id: str, parent_id: str, name: str) -> Folder:
        body = {"data": {"name": name}}
        return _build(Folder, self._data(FOLDER_CREATE, json=body, account_id=account_id, folder_id=parent_id))

    def show_folder(self, *, account_id: str, folder_id: str) -> Folder:
        return _build(Folder, self._data(FOLDER, account_id=account_id, folder_id=folder_id))

    def list_children(
        self,
        *,
        account_id: str,
        folder_id: str,
        include: Iterable[str] = (),
        type: str | None = None,  # the API's own parameter name
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[Asset]:
        params = {"include": ",".join(include) or None, "type": type}
        items = self.paginate(
            FOLDER_CHILDREN, params=params, page_size=page_size, account_id=account_id, folder_id=folder_id
        )
        return [_asset(a) for a in items]

    def delete_folder(self, *, account_id: str, folder_id: str) -> None:
        self.request(FOLDER_DELETE, account_id=account_id, folder_id=folder_id)

    # -- files

    def create_local_upload(self, *, account_id: str, folder_id: str, name: str, file_size: int) -> LocalUpload:
        """Create a file placeholder and get its presigned part URLs (the one non-idempotent upload step)."""
        body = {"data": {"name": name, "file_size": file_size}}
        data = self._data(LOCAL_UPLOAD, json=body, account_id=account_id, folder_id=folder_id)
        urls = [UploadUrl(size=int(u["size"]), url=u["url"]) for u in data.get("upload_urls") or []]
        file_data = {k: v for k, v in data.items() if k != "upload_urls"}
        return LocalUpload(file=_file(file_data), upload_urls=urls)

    def create_remote_upload(self, *, account_id: str, folder_id: str, name: str, source_url: str) -> File:
        """Create a file that Frame.io fills by fetching `source_url` (a signed URL: a secret, never logged)."""
        body = {"data": {"name": name, "source_url": source_url}}
        return _file(self._data(REMOTE_UPLOAD, json=body, account_id=account_id, folder_id=folder_id))

    def show_file(self, *, account_id: str, file_id: str, include: Iterable[str] = ()) -> File:
        params = {"include": ",".join(include)} if include else None
        return _file(self._data(FILE, params=params, account_id=account_id, file_id=file_id))

    def file_upload_status(self, *, account_id: str, file_id: str) -> UploadStatus:
        data = self._data(FILE_STATUS, account_id=account_id, file_id=file_id)
        return _build(
            UploadStatus,
            data,
            upload_complete=bool(data.get("upload_complete")),
            upload_failed=bool(data.get("upload_failed")),
        )

    def move_file(self, *, account_id: str, file_id: str, parent_id: str) -> File:
        """Move a file into a folder or a version stack (which is how a new version is added)."""
        body = {"data": {"parent_id": parent_id}}
        return _file(self._data(FILE_MOVE, json=body, account_id=account_id, file_id=file_id))

    def delete_file(self, *, account_id: str, file_id: str) -> None:
        self.request(FILE_DELETE, account_id=account_id, file_id=file_id)

    # -- version stacks

    def create_version_stack(self, *, account_id: str, folder_id: str, file_ids: list[str]) -> VersionStack:
        """Stack 2 to 10 files of `folder_id`, oldest first; the last becomes the head version."""
        if not 2 <= len(file_ids) <= 10:
            raise ValueError("a version stack is created from 2 to 10 files")
        body = {"data": {"file_ids": list(file_ids)}}
        return _version_stack(self._data(VERSION_STACK_CREATE, json=body, account_id=account_id, folder_id=folder_id))

    def show_version_stack(self, *, account_id: str, version_stack_id: str) -> VersionStack:
        return _version_stack(self._data(VERSION_STACK, account_id=account_id, version_stack_id=version_stack_id))

    def list_version_stack_children(self, *, account_id: str, version_stack_id: str) -> list[File]:
        items = self.paginate(VERSION_STACK_CHILDREN, account_id=account_id, version_stack_id=version_stack_id)
        return [_file(f) for f in items]

    # -- comments

    def list_comments(
        self,
        *,
        account_id: str,
        file_id: str,
        include: Iterable[str] = ("owner",),
        timestamp_as_timecode: bool = False,
    ) -> list[Comment]:
        params: dict[str, Any] = {"include": ",".join(include) or None}
        if timestamp_as_timecode:
            params["timestamp_as_timecode"] = "true"
        items = self.paginate(COMMENTS, params=params, account_id=account_id, file_id=file_id)
        return [parse_comment(c) for c in items]

    def show_comment(self, *, account_id: str, comment_id: str, include: Iterable[str] = ("owner",)) -> Comment:
        params = {"include": ",".join(include)} if include else None
        return parse_comment(self._data(COMMENT, params=params, account_id=account_id, comment_id=comment_id))

    def create_comment(
        self,
        *,
        account_id: str,
        file_id: str,
        text: str,
        timestamp: int | str | None = None,
        duration: int | None = None,
        timestamp_as_timecode: bool = False,
    ) -> Comment:
        """`timestamp` is a frame number from 1, or "HH:MM:SS:FF" with timestamp_as_timecode."""
        data: dict[str, Any] = {"text": text}
        if timestamp is not None:
            data["timestamp"] = timestamp
        if duration is not None:
            data["duration"] = duration
        params = {"timestamp_as_timecode": "true"} if timestamp_as_timecode else None
        return parse_comment(
            self._data(COMMENT_CREATE, params=params, json={"data": data}, account_id=account_id, file_id=file_id)
        )

    # -- metadata

    def list_field_definitions(self, *, account_id: str) -> list[FieldDefinition]:
        return [_field_definition(d) for d in self.paginate(FIELD_DEFINITIONS, account_id=account_id)]

    def file_metadata(self, *, account_id: str, file_id: str) -> list[MetadataValue]:
        data = self._data(FILE_METADATA, params={"show_null": "true"}, account_id=account_id, file_id=file_id)
        return [_build(MetadataValue, v) for v in (data or {}).get("metadata") or []]

    def update_metadata_values(
        self,
        *,
        account_id: str,
        project_id: str,
        file_ids: list[str],
        values: list[dict[str, Any]],
        wait: bool = True,
    ) -> None:
        """Set field values on up to 100 files: values = [{"field_definition_id": ..., "value": [...]}, ...].

        Select fields take a list of option ids. The endpoint allows 10 calls a minute: batch files.
        """
        if not 1 <= len(file_ids) <= 100:
            raise ValueError("metadata bulk update takes 1 to 100 files")
        body = {"data": {"file_ids": list(file_ids), "values": values}}
        self.request(METADATA_VALUES, json=body, account_id=account_id, project_id=project_id, wait=wait)

    # -- shares

    def list_shares(self, *, account_id: str, project_id: str) -> list[Share]:
        return [_build(Share, s) for s in self.paginate(SHARES, account_id=account_id, project_id=project_id)]

    def create_share(
        self,
        *,
        account_id: str,
        project_id: str,
        name: str,
        asset_ids: list[str],
        access: str = "public",
        **options: Any,
    ) -> Share:
        """A review link on `asset_ids`; `options` are further Share fields (passphrase, expiration...)."""
        data = {"type": "asset", "name": name, "access": access, "asset_ids": list(asset_ids), **options}
        return _build(
            Share, self._data(SHARE_CREATE, json={"data": data}, account_id=account_id, project_id=project_id)
        )

    # -- webhooks

    def create_webhook(self, *, account_id: str, workspace_id: str, name: str, url: str, events: list[str]) -> Webhook:
        """Register a webhook. The returned `secret` is shown only this once: store it (encrypted)."""
        body = {"data": {"name": name, "url": url, "events": list(events)}}
        return _build(Webhook, self._data(WEBHOOK_CREATE, json=body, account_id=account_id, workspace_id=workspace_id))

    def list_webhooks(self, *, account_id: str, workspace_id: str) -> list[Webhook]:
        items = self.paginate(WEBHOOKS, account_id=account_id, workspace_id=workspace_id)
        return [_build(Webhook, w) for w in items]

    def delete_webhook(self, *, account_id: str, webhook_id: str) -> None:
        self.request(WEBHOOK_DELETE, account_id=account_id, webhook_id=webhook_id)
