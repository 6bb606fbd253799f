"""Daphne made to stream request bodies, and to wait for slow readers, on the paths under one prefix.

Stock daphne (4.2, on Twisted) starts the application only once a request's whole body has arrived (Twisted
spools it to a temporary file), then puts the whole body into the application's input queue at once; and its
`send` never waits for the client to read. A 200 MB part PUT through the embedded sandbox would cost 200 MB of
memory in the web process, a slow download as much as the file. `install(prefix)` changes three things, for the
requests under `prefix` only (every other path keeps daphne's own behaviour):

- A request with a body starts the application as soon as its headers are in, and the body reaches the
  application's queue chunk by chunk as it arrives; reading from the socket pauses while more than
  `HIGH_WATER` bytes wait in the queue and resumes once the application has taken them below `LOW_WATER`.
- `send` of a response body chunk returns only when Twisted's write buffer has room again (a push producer
  registered on the request), so a slow client slows the application down instead of filling memory.
- A response finished before the request body was read to the end, or shorter than its Content-Length, closes
  the connection (otherwise the rest of the body would be parsed as the next request, or the client would wait
  for bytes that never come).
- daphne's access log shows these requests without their query string (presigned URLs carry a signature).

Written against daphne 4.2.3 and Twisted 26.10 (pinned in requirements.txt). It relies on a few of their
internals (`HTTPChannel._path/_command/_version/_transferDecoder`, daphne's `Server.create_application`);
`install` checks for them and, when one is missing, logs a warning and leaves daphne alone (bodies are then
buffered again, nothing else changes).
"""

import asyncio
import logging
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

HIGH_WATER = 1024 * 1024  # request body bytes queued for the application before reading pauses
LOW_WATER = 256 * 1024  # ... and below which it resumes

_prefixes: list[bytes] = []
_installed = False


def install(prefix: str) -> bool:
    """Stream the requests under `prefix` (e.g. "/frameio-sandbox"). Idempotent; True when daphne is patched."""
    global _installed
    prefix_bytes = ("/" + prefix.strip("/")).encode("ascii")
    if prefix_bytes not in _prefixes:
        _prefixes.append(prefix_bytes)
    if _installed:
        return True
    try:
        from daphne import http_protocol
        from daphne import server as daphne_server
        from twisted.internet.interfaces import IPushProducer
        from twisted.web import http
        from zope.interface import classImplements
    except ImportError:
        return False
    request_cls, server_cls = http_protocol.WebRequest, daphne_server.Server
    needed = [
        (request_cls, name)
        for name in ("gotLength", "handleContentChunk", "requestReceived", "finish", "connectionLost", "process")
    ] + [(server_cls, "create_application"), (http.HTTPChannel, "allContentReceived")]
    missing = [f"{cls.__name__}.{name}" for cls, name in needed if not hasattr(cls, name)]
    if missing:
        logger.warning("daphne streaming not installed (missing %s): request bodies are buffered", ", ".join(missing))
        return False
    classImplements(_Flow, IPushProducer)
    _Flow.no_body_codes = frozenset(http.NO_BODY_CODES)
    _patch(request_cls, server_cls)
    _installed = True
    return True


def _under_prefix(target: bytes) -> bool:
    path = urlsplit(target).path if target[:8].lower().startswith((b"http://", b"https://")) else target
    path = path.split(b"?", 1)[0]
    return any(path == p or path.startswith(p + b"/") for p in _prefixes)


class _NoContent:
    """Stands in for the request body file of a streamed request: daphne sees it `closed` and feeds nothing."""

    closed = True

    def read(self, size: int = -1) -> bytes:
        return b""

    def write(self, data: bytes) -> None:
        pass

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def close(self) -> None:
        pass


class _DiscardBody:
    """Transfer decoder for the rest of a body nobody will read (the connection is closing)."""

    def dataReceived(self, data: bytes) -> None:  # Twisted's interface
        pass

    def noMoreData(self) -> None:
        pass


class _Flow:
    """Flow control of one request under the prefix: body streaming in, back-pressure out."""

    no_body_codes: frozenset[int] = frozenset()

    def __init__(self, request) -> None:
        self.request = request
        self.channel = request.channel
        self.transport = request.channel.transport
        self.streaming = False  # the body goes to the application as it arrives
        self.body_done = False
        self.queue: asyncio.Queue | None = None  # the application's input queue (daphne's)
        self.queued = 0  # body bytes in that queue
        self.reading_paused = False
        self.writable = asyncio.Event()
        self.writable.set()

    # -- IPushProducer: Twisted pauses us while the response write buffer is full
    def pauseProducing(self) -> None:
        self.writable.clear()

    def resumeProducing(self) -> None:
        self.writable.set()

    def stopProducing(self) -> None:
        self.writable.set()

    # -- request body
    def feed(self, data: bytes) -> None:
        request = self.request
        if self.queue is None or request.finished or request._disconnected:
            return
        self.queue.put_nowait({"type": "http.request", "body": data, "more_body": True})
        self.queued += len(data)
        if self.queued > HIGH_WATER:
            self.reading_paused = True
            self.transport.pauseProducing()

    def end_body(self) -> None:
        self.body_done = True
        if self.queue is not None and not self.request.finished:
            self.queue.put_nowait({"type": "http.request", "body": b"", "more_body": False})

    def consumed(self, message: dict) -> None:
        if message.get("type") != "http.request":
            return
        self.queued -= len(message.get("body") or b"")
        if self.reading_paused and self.queued <= LOW_WATER:
            self.reading_paused = False
            self.transport.resumeProducing()  # a no-op once the connection is closing

    def wrap_receive(self, receive):
        async def receive_with_flow_control() -> dict:
            message = await receive()
            self.consumed(message)
            return message

        return receive_with_flow_control

    def wrap_send(self, send):
        async def send_with_back_pressure(message: dict) -> None:
            await send(message)
            if message.get("type") == "http.response.body" and message.get("more_body"):
                await self.writable.wait()

        return send_with_back_pressure

    # -- end of the response
    def before_finish(self) -> None:
        request = self.request
        if request.producer is self:
            request.unregisterProducer()
        self.writable.set()
        unread_body = self.streaming and not self.body_done
        short = False
        length = request.responseHeaders.getRawHeaders(b"content-length")
        if length and request.method != b"HEAD" and request.code not in self.no_body_codes:
            try:
                short = int(length[-1]) != request.sentLength
            except ValueError:
                short = True
        if b"?" in request.uri:
            # daphne's access log line is written after this: without the query string, which carries the
            # signature of a presigned URL (the sandbox never logs it either).
            request.uri = request.uri.split(b"?", 1)[0]
        if unread_body or short:
            self.channel.persistent = False
            if unread_body:
                self.channel._transferDecoder = _DiscardBody()
            if not request.startedWriting:
                request.responseHeaders.setRawHeaders(b"connection", [b"close"])


def _patch(request_cls, server_cls) -> None:
    got_length = request_cls.gotLength
    handle_content_chunk = request_cls.handleContentChunk
    request_received = request_cls.requestReceived
    finish = request_cls.finish
    connection_lost = request_cls.connectionLost
    create_application = server_cls.create_application

    def gotLength(self, length):
        got_length(self, length)
        channel = self.channel
        target = getattr(channel, "_path", None)
        if not isinstance(target, bytes) or not _under_prefix(target) or self.requestHeaders.hasHeader(b"upgrade"):
            return
        flow = _Flow(self)
        self._postflow_flow = flow
        self.registerProducer(flow, True)
        if length == 0:
            return  # no body: daphne's own path
        # Start the application now: Twisted would call requestReceived (hence daphne's process) only once the
        # whole body is in. A failure on the way (daphne's 400 for a bad header) must close the connection, as
        # the body is still coming: persistence is restored only once the application runs.
        self.content.close()
        self.content = _NoContent()
        flow.streaming = True
        persistent = channel.persistent
        channel.persistent = False
        try:
            request_received(self, channel._command, target, channel._version)
        finally:
            if not self.finished:
                channel.persistent = persistent

    def handleContentChunk(self, data):
        flow = getattr(self, "_postflow_flow", None)
        if flow is None or not flow.streaming:
            return handle_content_chunk(self, data)
        flow.feed(data)

    def requestReceived(self, command, path, version):
        flow = getattr(self, "_postflow_flow", None)
        if flow is not None and flow.streaming:
            flow.end_body()  # the application already runs: this only says the body is complete
            return None
        return request_received(self, command, path, version)

    def finish_(self):
        flow = getattr(self, "_postflow_flow", None)
        if flow is not None and not self.finished:
            flow.before_finish()
        return finish(self)

    def connectionLost(self, reason):
        flow = getattr(self, "_postflow_flow", None)
        if flow is not None:
            flow.writable.set()
        return connection_lost(self, reason)

    def create_application_(self, protocol, scope):
        flow = getattr(protocol, "_postflow_flow", None)
        if flow is None:
            return create_application(self, protocol, scope)
        application = self.application

        def with_flow_control(*, scope, receive, send):
            return application(scope=scope, receive=flow.wrap_receive(receive), send=flow.wrap_send(send))

        self.application = with_flow_control  # only for this synchronous call
        try:
            queue = create_application(self, protocol, scope)
        finally:
            self.application = application
        flow.queue = queue
        return queue

    request_cls.gotLength = gotLength
    request_cls.handleContentChunk = handleContentChunk
    request_cls.requestReceived = requestReceived
    request_cls.finish = finish_
    request_cls.connectionLost = connectionLost
    server_cls.create_application = create_application_
