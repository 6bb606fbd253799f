"""The sandbox's HTTP server: one base URL for the Frame.io API (/v4/...), Adobe IMS (/ims/...), the
presigned upload/download URLs (/s3/...) and a few read-only pages (/, /project/..., /s/...).

    from frameio_sandbox.server import SandboxConfig, run_sandbox

    with run_sandbox(SandboxConfig(port=0)) as sandbox:
        token = sandbox.issue_token()
        requests.get(f"{sandbox.base_url}/v4/me", headers={"Authorization": f"Bearer {token}"})

It is a standard-library ThreadingHTTPServer speaking HTTP/1.1 with keep-alive, so that it controls how
request bodies are read (in bounded chunks, throttled, or cut by a connection reset) — see faults.py.
"""

import contextlib
import logging
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from frameio_sandbox import api, ims, uploads, web
from frameio_sandbox.config import SandboxConfig
from frameio_sandbox.faults import FaultPlan, Faults
from frameio_sandbox.link import Link, LinkConnection, LinkSettings
from frameio_sandbox.ratelimit import RateLimiter
from frameio_sandbox.replies import Reply, json_reply
from frameio_sandbox.routing import load_spec
from frameio_sandbox.runtime import Clock, Scheduler
from frameio_sandbox.state import ACCOUNT_ID, SERVICE_USER_ID, USER_ID, WORKSPACE_ID, SandboxState
from frameio_sandbox.webhooks import WebhookDispatcher

__all__ = ["Sandbox", "SandboxConfig", "run_sandbox"]

logger = logging.getLogger(__name__)

DEFAULT_TEST_SCOPES = ("openid", "AdobeID", "offline_access", "additional_info.roles", "email", "profile")


class Sandbox:
    """A running (after `start()`) emulator of Frame.io v4 and Adobe IMS, and its test helpers."""

    account_id = ACCOUNT_ID
    workspace_id = WORKSPACE_ID
    user_id = USER_ID
    service_user_id = SERVICE_USER_ID

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.clock = Clock()
        self.state = SandboxState(self.clock)
        self.faults = Faults(self.config.seed)
        c = self.config
        self.link = Link(LinkSettings(c.link_rate, c.link_rtt, c.link_window, c.link_loss), c.seed)
        if c.part_bandwidth:
            self.faults.add("PUT /s3/*", bandwidth=c.part_bandwidth)
        self.rate_limiter = RateLimiter()
        self.spec = load_spec()
        self.stats = {"max_body_read": 0}  # the largest single read of a request body, in bytes
        self.fetches: list[dict] = []  # remote upload: every request of every fetch (remote.py)
        self.data_dir = Path()
        self.scheduler: Scheduler | None = None
        self.webhooks: WebhookDispatcher | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tmpdir: str | None = None
        self._local = threading.local()
        self._save_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> "Sandbox":
        config = self.config
        if config.data_dir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="frameio-sandbox-")
            self.data_dir = Path(self._tmpdir)
        else:
            self.data_dir = Path(config.data_dir)
            self.data_dir.mkdir(parents=True, exist_ok=True)
        state_file = Path(config.state_file) if config.state_file else None
        if state_file and state_file.exists():
            self.state.load_json(state_file.read_text())
        else:
            self.state.seed()
        self.scheduler = Scheduler()
        self.webhooks = WebhookDispatcher(self)
        self._server = _Server((config.host, config.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="frameio-sandbox", daemon=True
        )
        self._thread.start()
        uploads.resume_transcodes(self)
        self.persist()
        if config.public_url:
            logger.info("Frame.io sandbox listening on %s, reached as %s", self.listen_url, self.base_url)
        else:
            logger.info("Frame.io sandbox listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
        if self.webhooks is not None:
            self.webhooks.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        self.persist()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """The base URL clients use, and the one in every URL the sandbox hands out: `config.public_url`
        when it sits behind a proxy, else its own address."""
        return self.config.public_url.rstrip("/") or self.listen_url

    @property
    def listen_url(self) -> str:
        """Where this sandbox's own HTTP server listens (with the path prefix)."""
        host = "127.0.0.1" if self.config.host in ("", "0.0.0.0") else self.config.host  # noqa: S104
        return f"http://{host}:{self.port}{self.config.path_prefix.rstrip('/')}"

    @property
    def client_id(self) -> str:
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        return self.config.client_secret

    # -- helpers for tests and embedding ---------------------------------------------------------------

    def issue_token(
        self, scopes: Iterable[str] = DEFAULT_TEST_SCOPES, *, user_id: str | None = None, ttl: float | None = None
    ) -> str:
        """A valid access token without the OAuth dance (for the seeded user unless `user_id`)."""
        return ims.issue_access_token(
            self, user_id=user_id or USER_ID, scopes=list(scopes), client_id=self.client_id, ttl=ttl
        )

    def deliver_webhook_event(
        self,
        event_type: str,
        resource_id: str,
        resource_type: str = "file",
        *,
        project_id: str | None = None,
        workspace_id: str | None = None,
        user_id: str | None = None,
    ) -> dict:
        """Emit an event as if it happened: every subscribed webhook of the workspace gets it (signed,
        with retries). The workspace is the project's, else the seeded one. Returns the event."""
        if project_id is None and workspace_id is None:
            workspace_id = WORKSPACE_ID
        return self.emit(
            event_type, resource_type, resource_id, project_id=project_id, workspace_id=workspace_id, user_id=user_id
        )

    def emit(self, event_type: str, resource_type: str, resource_id: str, **ids) -> dict:
        assert self.webhooks is not None, "the sandbox is not started"
        return self.webhooks.emit(event_type, resource_type, resource_id, **ids)

    def advance_clock(self, seconds: float) -> None:
        """Move the sandbox's wall clock: expires tokens, codes and presigned URLs (not timers)."""
        self.clock.advance(seconds)

    def set_file_fps(self, file_id: str, fps: float) -> None:
        """The frame rate the sandbox uses for this file's comment timecodes (default: config.default_fps)."""
        with self.state.lock:
            self.state.files[file_id]["_fps"] = fps

    @property
    def token_calls(self) -> dict[str, int]:
        """IMS token endpoint calls so far, by grant_type, e.g. {"refresh_token": 1}."""
        with self.state.lock:
            return dict(self.state.token_calls)

    def wait_for(self, predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.01) -> object:
        """Poll `predicate` until it returns something truthy; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(interval)

    def current_user_id(self) -> str:
        return getattr(self._local, "user_id", None) or USER_ID

    def set_current_user(self, user_id: str | None) -> None:
        self._local.user_id = user_id

    def persist(self) -> None:
        if self.config.state_file:
            with self._save_lock:
                self.state.save(Path(self.config.state_file))


@contextlib.contextmanager
def run_sandbox(config: SandboxConfig | None = None) -> Iterator[Sandbox]:
    """Start a sandbox in a background thread; stop it (and remove its temporary data) on exit."""
    sandbox = Sandbox(config).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request, client_address) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        logger.debug("sandbox connection error", exc_info=True)


class _ConnectionReset(Exception):
    """Raised after the handler reset the connection on purpose (fault injection)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # seconds an idle keep-alive connection (or a stalled body) is kept
    server: _Server

    def version_string(self) -> str:
        return "FrameioSandbox/1.0"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        with contextlib.suppress(_ConnectionReset, ConnectionError, TimeoutError, ValueError, OSError):
            super().handle()

    def log_request(self, code="-", size="-") -> None:
        # Never the query string: presigned URLs carry their signature there.
        logger.debug("%s %s -> %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format, *args) -> None:
        logger.debug("sandbox: " + format, *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # -- dispatch ----------------------------------------------------------------------------------------

    def _serve(self) -> None:
        sb = self.server.sandbox
        split = urlsplit(self.path)
        path = split.path
        prefix = sb.config.path_prefix.rstrip("/")
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            path = path[len(prefix) :] or "/"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        self._start_body()
        self._fault = sb.faults.plan(self.command, path)
        self._link = self._link_for(sb, path)
        if self._fault.latency:
            time.sleep(self._fault.latency)
        try:
            if self._fault.reset_after is not None and (self._fault.reset_after == 0 or not self._has_body()):
                self._reset()
            if self._fault.status:
                self._send_reply(_injected_error(sb, self.command, self._fault.status, path))
                return
            reply = self._route(sb, path, query)
        except uploads.UploadRefused as refusal:
            reply = Reply(refusal.status, uploads.s3_error_body(refusal), "application/xml")
            reply.headers["x-sandbox-reason"] = refusal.reason
        except _ConnectionReset:
            self._abort_connection()  # only now: whatever handled the body has cleaned up while unwinding
            return
        except (ConnectionError, TimeoutError):
            raise
        except Exception:
            logger.exception("sandbox error on %s %s", self.command, path)
            reply = api.error_reply(500, "Internal error in the Frame.io sandbox")
        if reply is not None:
            self._send_reply(reply)

    def _link_for(self, sb: Sandbox, path: str) -> LinkConnection | None:
        """The emulated WAN (link.py) carries S3's traffic only: API calls stay quick in tests."""
        if not path.startswith("/s3/") or not sb.link.active:
            return None
        # The receive window of a real long path: what a connection has in flight is a window, not the
        # megabytes a loopback's autotuned receive buffer would take in while the emulation makes the body
        # wait (a client counting what it sent would see a rate no WAN gives). Set for each request, as
        # the link can change while a keep-alive connection lasts; Linux caps it at net.core.rmem_max.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, sb.link.settings.window)
        link = sb.link.connection(self._length)
        if link.reset_at is not None and self._fault.reset_after is None:
            self._fault.reset_after = link.reset_at
        link.start()
        return link

    def _route(self, sb: Sandbox, path: str, query: dict[str, str]) -> Reply | None:
        method = self.command
        if path == "/v4" or path.startswith("/v4/"):
            body = self._read_small_body()
            return api.handle(sb, method, path, query, self.headers, body) if body is not None else self._too_large()
        if path == "/ims/authorize/v2" and method == "GET":
            return ims.authorize(sb, query)
        if path in ("/ims/token/v3", "/ims/revoke") and method == "POST":
            body = self._read_small_body()
            if body is None:
                return self._too_large()
            return (ims.token if path.endswith("v3") else ims.revoke)(sb, self.headers, query, body)
        if path.startswith(f"/s3/{uploads.UPLOAD_BUCKET}/") and method == "PUT":
            uploads.handle_part_put(self, sb, path, query)
            return None
        if path.startswith(f"/s3/{uploads.ASSET_BUCKET}/") and method == "GET":
            uploads.handle_download(self, sb, path, query)
            return None
        if method == "GET" and (page := web.page(sb, path)) is not None:
            return page
        return api.error_reply(404, "Not found")

    def _too_large(self) -> Reply:
        return api.error_reply(413, "Request body too large")

    # -- request bodies --------------------------------------------------------------------------------

    @property
    def body_length(self) -> int | None:
        """Content-Length, or None for a chunked body."""
        return None if self._chunked else self._length

    def _start_body(self) -> None:
        self._chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        try:
            self._length = 0 if self._chunked else max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            self._length = 0
        self._left = self._length
        self._chunked_done = not self._chunked
        self._read_total = 0
        self._throttle_start = 0.0

    def _has_body(self) -> bool:
        return self._chunked or self._length > 0

    def _body_pending(self) -> bool:
        return self._left > 0 or not self._chunked_done

    def iter_body(self) -> Iterator[bytes]:
        """The request body in chunks of at most `body_chunk_size` bytes (fewer under a bandwidth cap),
        throttled and cut as the faults of this request say. Never more than one chunk in memory."""
        if self._chunked:
            yield from self._iter_chunked()
            return
        while self._left > 0:
            data = self._read_raw(self._left)
            self._left -= len(data)
            yield data

    def _iter_chunked(self) -> Iterator[bytes]:
        while not self._chunked_done:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip() or b"x", 16)
            except ValueError:
                raise ConnectionError("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._chunked_done = True
                return
            while size > 0:
                data = self._read_raw(size)
                size -= len(data)
                yield data
            self.rfile.readline(1024)

    def _read_raw(self, wanted: int) -> bytes:
        sb, fault = self.server.sandbox, self._fault
        limit = sb.config.body_chunk_size
        if fault.bandwidth:
            limit = min(limit, max(1024, fault.bandwidth // 20))
        if fault.reset_after is not None:
            if self._read_total >= fault.reset_after:
                self._reset()
            limit = min(limit, fault.reset_after - self._read_total)
        if self._link is not None:
            limit = self._link.chunk_limit(limit)
        size = min(wanted, limit)
        sb.stats["max_body_read"] = max(sb.stats["max_body_read"], size)
        data = self.rfile.read(size)
        if not data:
            raise ConnectionError("the client closed the connection in the middle of the body")
        self._read_total += len(data)
        if self._link is not None:
            self._link.carried(len(data))
        if fault.bandwidth:
            self._throttle(len(data), fault)
        if fault.reset_after is not None and self._read_total >= fault.reset_after:
            self._reset()
        return data

    def _throttle(self, nbytes: int, fault: FaultPlan) -> None:
        now = time.monotonic()
        if not self._throttle_start:
            self._throttle_start = now
        delay = self._throttle_start + self._read_total / fault.bandwidth - now
        if delay > 0:
            time.sleep(delay)

    def _read_small_body(self) -> bytes | None:
        """A JSON or form body, whole; None when it is larger than `json_body_limit`."""
        if not self._chunked and self._length > self.server.sandbox.config.json_body_limit:
            return None
        parts, size = [], 0
        for chunk in self.iter_body():
            size += len(chunk)
            if size > self.server.sandbox.config.json_body_limit:
                return None
            parts.append(chunk)
        return b"".join(parts)

    def _drain(self) -> None:
        """Before answering early: read what is left of the body (if small), else close after answering."""
        if self._chunked or self._left > self.server.sandbox.config.drain_limit:
            self.close_connection = True
            return
        while self._left > 0:
            data = self.rfile.read(min(self._left, self.server.sandbox.config.body_chunk_size))
            if not data:
                self.close_connection = True
                return
            self._left -= len(data)

    def _reset(self) -> None:
        """Stop handling this request; `_serve` then aborts the connection."""
        raise _ConnectionReset()

    def _abort_connection(self) -> None:
        """Close with a TCP RST (SO_LINGER 0), as a network failure would, without answering."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self.rfile, self.wfile, self.connection):
            with contextlib.suppress(OSError, ValueError):
                stream.close()

    # -- answers ---------------------------------------------------------------------------------------

    def respond(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self._send_reply(Reply(status, body, content_type, dict(headers or {})))

    def _send_reply(self, reply: Reply) -> None:
        if self._body_pending():
            self._drain()
        self.send_response(reply.status)
        if reply.status != 204:
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if reply.body and reply.status != 204:
            self.wfile.write(reply.body)

    def respond_stream(
        self, status: int, content_type: str, length: int, chunks: Iterable[bytes], headers: dict[str, str]
    ) -> None:
        if self._body_pending():
            self._drain()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)


def _injected_error(sb: Sandbox, method: str, status: int, path: str) -> Reply:
    """An error chosen by a fault rule, in the body format of the service that path belongs to."""
    if path.startswith("/s3/"):
        code, message = {
            503: ("SlowDown", "Please reduce your request rate."),
            403: ("AccessDenied", "Access Denied"),
        }.get(status, ("InternalError", "We encountered an internal error. Please try again."))
        refusal = uploads.UploadRefused(status, code, message, "injected fault")
        return Reply(status, uploads.s3_error_body(refusal), "application/xml", {"x-sandbox-reason": "injected fault"})
    if path.startswith("/ims/"):
        return json_reply(status, {"error": "server_error", "error_description": "injected fault"})
    headers = {}
    if status == 429 and (match := sb.spec.match(method, path)):
        op = match[0]
        headers = {
            "x-ratelimit-limit": str(op.rate_limit),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-window": str(op.rate_window_ms),
        }
    return api.error_reply(status, "Too many requests" if status == 429 else "Injected fault", headers)
