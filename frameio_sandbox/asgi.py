"""The sandbox inside an ASGI web server, under a path prefix: a streaming reverse proxy.

    proxy = SandboxProxy(lambda: SandboxConfig(path_prefix="/frameio-sandbox",
                                               public_url="http://127.0.0.1:8000/frameio-sandbox", ...))
    application = mount("/frameio-sandbox", proxy, other_app)

The first request under the prefix starts one `Sandbox` in this process (its ThreadingHTTPServer on an
ephemeral loopback port, in background threads); every request is then forwarded to it over its own loopback
connection. Because the sandbox's `public_url` is the web server's origin + prefix, every URL it hands out
(upload part URLs, view_url, short_url, its pages) leads back through the web server.

The proxy streams both ways with bounded memory: the request body goes from ASGI `receive` to the socket one
message at a time (each written and drained before the next is read), the response from the socket to ASGI
`send` in 64 KiB pieces. Content-Length is kept both ways (a chunked request stays chunked, which the
presigned part URLs refuse with 411 as S3 does); hop-by-hop headers are dropped. A client that goes away
closes the upstream connection, so the sandbox drops a half-received part as it would for a direct client.
An answer given before the request body was read to the end (a refused part PUT) carries `Connection: close`.
Under daphne, see postflow/daphne_streaming.py (the web server's side, installed by postflow/sandbox.py): without
it daphne itself buffers whole request bodies.

Only loopback clients are served (the sandbox's credential is public and its webhooks reach loopback
services): anyone else gets 403.
"""

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

from frameio_sandbox.config import SandboxConfig
from frameio_sandbox.server import Sandbox

__all__ = ["SandboxProxy", "mount", "under_prefix"]

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CHUNK = 64 * 1024  # the most read from the upstream at once
HEAD_LIMIT = 64 * 1024  # the longest header line the upstream may send
# RFC 9110 section 7.6.1, plus Expect (the front server has answered it) and Proxy-*.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"expect",
    }
)
BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})


def under_prefix(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def mount(prefix: str, app: ASGIApp, default: ASGIApp) -> ASGIApp:
    """An ASGI app sending HTTP requests under `prefix` to `app` and everything else to `default`."""
    prefix = "/" + prefix.strip("/")

    async def prefix_router(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and under_prefix(scope["path"], prefix):
            await app(scope, receive, send)
        else:
            await default(scope, receive, send)

    return prefix_router


_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")
_PROXY_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


def _is_loopback(client: Any) -> bool:
    if not client:
        return False  # no peer address (a Unix socket behind a proxy, say): not provably local
    host = str(client[0]).split("%", 1)[0]
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _local_request(scope: Scope) -> bool:
    """From a process on this machine, not relayed for someone else, and addressed to a loopback
    name: a reverse proxy on loopback (X-Forwarded-For) or DNS rebinding (a foreign Host) is refused."""
    if not _is_loopback(scope.get("client")):
        return False
    headers = dict(scope.get("headers") or [])
    if any(name in headers for name in _PROXY_HEADERS):
        return False
    host = headers.get(b"host", b"").decode("latin-1").lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in _LOOPBACK_NAMES


class SandboxProxy:
    """ASGI app: a sandbox started on first use in this process, and the proxy in front of it."""

    def __init__(self, config: SandboxConfig | Callable[[], SandboxConfig], *, loopback_only: bool = True) -> None:
        self._config = config
        self.loopback_only = loopback_only
        self.sandbox: Sandbox | None = None
        self._lock = threading.Lock()

    def start(self) -> Sandbox:
        """The sandbox, started if it is not yet (thread-safe; blocking: it reads its state file)."""
        with self._lock:
            if self.sandbox is None:
                config = self._config() if callable(self._config) else self._config
                self.sandbox = Sandbox(config).start()
            return self.sandbox

    def stop(self) -> None:
        with self._lock:
            sandbox, self.sandbox = self.sandbox, None
        if sandbox is not None:
            sandbox.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"the Frame.io sandbox proxy serves HTTP only, not {scope['type']!r}")
        exchange = _Exchange(scope, receive, send)
        if self.loopback_only and not _local_request(scope):
            await exchange.error(403, "The embedded Frame.io sandbox only answers loopback clients")
            return
        try:
            sandbox = self.sandbox or await asyncio.to_thread(self.start)
        except Exception:
            logger.exception("the embedded Frame.io sandbox did not start")
            await exchange.error(503, "The embedded Frame.io sandbox did not start (see the web process log)")
            return
        host = "127.0.0.1" if sandbox.config.host in ("", "0.0.0.0") else sandbox.config.host  # noqa: S104
        await exchange.run(host, sandbox.port)


class _Upstream:
    """A loopback connection to the sandbox, read and written independently with `loop.sock_*`.

    Not asyncio streams: there, a failed write closes the whole transport, and the sandbox's answer to a
    refused PUT (sent before it closes with the rest of the body unread) would be lost with it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.eof = False
        self.closed = False

    @classmethod
    async def connect(cls, host: str, port: int) -> "_Upstream":
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (host, port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def write(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def _fill(self) -> bool:
        if self.eof:
            return False
        data = await self.loop.sock_recv(self.sock, CHUNK)
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    async def readline(self) -> bytes:
        start = 0
        while (end := self.buffer.find(b"\r\n", start)) < 0:
            if len(self.buffer) > HEAD_LIMIT:
                raise ValueError("header line too long")
            start = max(0, len(self.buffer) - 1)
            if not await self._fill():
                raise EOFError("the sandbox closed the connection")
        line = bytes(self.buffer[: end + 2])
        del self.buffer[: end + 2]
        return line

    async def read(self, limit: int) -> bytes:
        """Up to `limit` bytes; b"" at the end."""
        if not self.buffer and not await self._fill():
            return b""
        data = bytes(self.buffer[:limit])
        del self.buffer[:limit]
        return data

    async def readexactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not await self._fill():
                raise EOFError("the sandbox closed the connection")
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def shutdown(self) -> None:
        """Wake up and end both directions (pending reads see the end, writes fail): the client went away."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()


class _Exchange:
    """One request forwarded to the sandbox and its answer forwarded back."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.body_complete = asyncio.Event()  # the client's body was received to its end
        self.disconnected = False
        self.upstream: _Upstream | None = None

    # -- the whole exchange

    async def run(self, host: str, port: int) -> None:
        first = await self.receive()
        if first["type"] == "http.disconnect":
            return
        if not first.get("more_body"):
            self.body_complete.set()
        try:
            upstream = self.upstream = await _Upstream.connect(host, port)
        except OSError as exc:
            await self.error(502, f"The Frame.io sandbox is unreachable ({type(exc).__name__})")
            return
        pump = asyncio.create_task(self._pump(first))
        try:
            try:
                status, headers = await self._read_head(upstream)
            except (OSError, EOFError, ValueError):
                status = None
            if self.disconnected:
                return
            if status is None:
                await self.error(502, "The Frame.io sandbox closed the connection without answering")
                return
            await self._respond(upstream, status, headers)
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
            upstream.close()

    async def error(self, status: int, detail: str) -> None:
        """An answer of the proxy itself, in the API's error envelope."""
        body = json.dumps({"errors": [{"detail": detail}]}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if not self.body_complete.is_set():
            headers.append((b"connection", b"close"))
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    # -- request: head, then the body pumped from the client to the sandbox

    def _request_head(self, first: dict) -> tuple[bytes, bool]:
        """The request head for the sandbox, and whether the body goes chunked."""
        scope = self.scope
        method = scope["method"].upper()
        target = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        named = {
            token.strip().lower()
            for name, value in scope["headers"]
            if name.lower() == b"connection"
            for token in value.split(b",")
        }
        headers: list[tuple[bytes, bytes]] = []
        length: bytes | None = None
        chunked = False
        host = None
        for name, value in scope["headers"]:
            lower = name.lower()
            if lower == b"transfer-encoding":
                chunked = chunked or b"chunked" in value.lower()
            elif lower == b"content-length":
                length = value.strip()
            elif lower in HOP_BY_HOP or lower in named or lower.startswith(b"x-forwarded-"):
                continue
            else:
                if lower == b"host":
                    host = value
                headers.append((name, value))
        if chunked:
            headers.append((b"Transfer-Encoding", b"chunked"))
        elif length is not None:
            headers.append((b"Content-Length", length))
        elif first.get("more_body"):  # a body of unknown length (HTTP/2 without Content-Length)
            chunked = True
            headers.append((b"Transfer-Encoding", b"chunked"))
        elif first.get("body") or method not in BODYLESS_METHODS:
            headers.append((b"Content-Length", str(len(first.get("body") or b"")).encode()))
        if host is None:
            server = scope.get("server") or ("127.0.0.1", None)
            host = f"{server[0]}:{server[1]}".encode() if server[1] else str(server[0]).encode()
            headers.append((b"Host", host))
        client = scope.get("client")
        if client:
            headers.append((b"X-Forwarded-For", str(client[0]).encode()))
        headers += [
            (b"X-Forwarded-Proto", scope.get("scheme", "http").encode()),
            (b"X-Forwarded-Host", host),
            (b"Connection", b"close"),
        ]
        lines = [b"%s %s HTTP/1.1" % (method.encode("ascii"), target)]
        lines += [name + b": " + value for name, value in headers]
        return b"\r\n".join(lines) + b"\r\n\r\n", chunked

    async def _pump(self, first: dict) -> None:
        """Send the head and the body, one ASGI message at a time; then watch for the client going away."""
        assert self.upstream is not None
        upstream = self.upstream
        head, chunked = self._request_head(first)
        message = first
        upstream_ok = True
        try:
            await upstream.write(head)
        except OSError:
            upstream_ok = False
        while True:
            if message["type"] == "http.disconnect":
                self._client_gone()
                return
            body = message.get("body") or b""
            more = message.get("more_body", False)
            if not more:
                self.body_complete.set()
            if upstream_ok and (body or (chunked and not more)):
                if chunked:
                    body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + (b"" if more else b"0\r\n\r\n")
                try:
                    await upstream.write(body)
                except OSError:
                    upstream_ok = False  # it answered early and closed, or reset: its answer (or a 502) tells
            if not more:
                break
            message = await self.receive()
        while True:  # the body is done; what remains is http.disconnect
            message = await self.receive()
            if message["type"] == "http.disconnect":
                self._client_gone()
                return

    def _client_gone(self) -> None:
        self.disconnected = True
        self.body_complete.set()
        if self.upstream is not None:
            self.upstream.shutdown()

    # -- response

    @staticmethod
    async def _read_head(reader: "_Upstream") -> tuple[int, list[tuple[bytes, bytes]]]:
        while True:
            line = await reader.readline()
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise ValueError(f"not an HTTP status line: {line[:80]!r}")
            status = int(parts[1])
            headers = []
            while (line := await reader.readline()) != b"\r\n":
                name, sep, value = line.partition(b":")
                if not sep:
                    raise ValueError(f"not a header line: {line[:80]!r}")
                headers.append((name.strip().lower(), value.strip()))
                if len(headers) > 200:
                    raise ValueError("too many headers")
            if not 100 <= status < 200:
                return status, headers

    async def _respond(self, reader: "_Upstream", status: int, headers: list[tuple[bytes, bytes]]) -> None:
        if not self.body_complete.is_set():
            # Most answers come after the whole body (the sandbox reads it first): let the pump see its end.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.body_complete.wait(), 0.2)
        named = {token.strip() for name, value in headers if name == b"connection" for token in value.split(b",")}
        out: list[tuple[bytes, bytes]] = []
        chunked = False
        length: int | None = None
        for name, value in headers:
            if name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name in HOP_BY_HOP or name in named:
                continue
            else:
                if name == b"content-length":
                    length = int(value)
                out.append((name, value))
        if not self.body_complete.is_set():
            out.append((b"connection", b"close"))  # the rest of the request body will not be read
        await self.send({"type": "http.response.start", "status": status, "headers": out})
        if self.scope["method"].upper() == "HEAD" or status in (204, 304):
            pieces: AsyncIterator[bytes] = _nothing()
        elif chunked:
            pieces = _read_chunked(reader)
        elif length is not None:
            pieces = _read_length(reader, length)
        else:
            pieces = _read_to_eof(reader)
        try:
            async for piece in pieces:
                if self.disconnected:
                    return
                await self.send({"type": "http.response.body", "body": piece, "more_body": True})
        except (OSError, EOFError, ValueError):
            # Cut short: ending the response below its Content-Length makes the server close the connection.
            logger.warning("the Frame.io sandbox cut its answer to %s short", self.scope["path"])
        if not self.disconnected:
            await self.send({"type": "http.response.body", "body": b"", "more_body": False})


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield


async def _read_length(reader: _Upstream, length: int) -> AsyncIterator[bytes]:
    while length > 0:
        data = await reader.read(min(length, CHUNK))
        if not data:
            raise EOFError("the sandbox closed the connection before the end of its answer")
        length -= len(data)
        yield data


async def _read_to_eof(reader: _Upstream) -> AsyncIterator[bytes]:
    while data := await reader.read(CHUNK):
        yield data


async def _read_chunked(reader: _Upstream) -> AsyncIterator[bytes]:
    while True:
        size = int((await reader.readline()).split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await reader.readline() != b"\r\n":
                pass  # trailers
            return
        async for piece in _read_length(reader, size):
            yield piece
        await reader.readexactly(2)
