"""The bytes: parts streamed from the verified file with pread in 1 MiB blocks (bounded memory), as many
in flight as the process's budget allows (concurrency.py), over one keep-alive http.client connection per
thread (requests when a proxy applies), retried with jitter; the parts that landed recorded together at
most FRAMEIO_PART_RECORD_SECONDS after they land; progress (bytes, rate, ETA, parts in flight) published
twice a second."""

import contextlib
import functools
import http.client
import logging
import os
import queue
import random
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from urllib3.connection import HTTPConnection
from urllib3.util.wait import wait_for_read

from frameio.client import redact, redact_url
from frameio.crypto import decrypt
from frameio.models import Upload, UploadPart
from frameio.signals import upload_transfer_measured
from frameio.uploads import concurrency
from frameio.uploads.claims import LeaseKeeper
from frameio.uploads.errors import RenderUnreadable, Stopped, UploadFailed, UrlsExpired
from frameio.uploads.states import Job
from ingest.selectors import ReviewFile
from ingest.verify import FileChanged, open_verified
from postflow import realtime
from postflow.lib import shutdown

logger = logging.getLogger(__name__)


PART_TIMEOUT = (10, 300)  # connect, read (per socket operation) for part PUTs
# What one pread reads and one send writes: large enough that Python's cost per block is noise beside
# the copy (the 16 KiB urllib3 uses by default cost more than the bytes at 1 GB/s).
BLOCK_SIZE = 1024 * 1024
SEND_BUFFER_OPTION = (socket.SOL_SOCKET, socket.SO_SNDBUF, BLOCK_SIZE)
_BUFFERS_KEPT = 8  # blocks kept for the next parts once an upload's parts are done
# Landed parts recorded in one transaction once this many wait, even before FRAMEIO_PART_RECORD_SECONDS.
RECORD_EVERY_PARTS = 16
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def open_review_file(file: ReviewFile) -> int:
    """A descriptor on the very file that was verified (or, for a review proxy, written): opened without
    following a symlink, then checked (inode, size, mtime) on the descriptor itself, so a file swapped for
    a link to something else (a key, another render) after the check is never read."""
    if file.problem:
        raise RenderUnreadable(f"{file.name or file.path}: {file.problem}")
    try:
        return open_verified(file.path, inode=file.inode, size=file.size, mtime_ns=file.mtime_ns)
    except OSError as exc:
        raise RenderUnreadable(f"{file.name}: cannot open ({exc.strerror})") from None
    except FileChanged:
        raise RenderUnreadable(f"{file.name}: the file changed since it was verified") from None


class PartBody:
    """A slice of an open file as a request body: read in BLOCK_SIZE blocks with pread (parts in flight
    share one descriptor), with a length so that requests sends Content-Length (S3 refuses chunked
    PUTs). Memory stays at one block per part in flight: with `buffer`, every block is read into it
    (preadv, no allocation per block; the caller sends a block before it reads the next). A stop of the
    worker ends the PUT at the next block (Stopped goes through requests; the part is not recorded, the
    next attempt sends it)."""

    def __init__(
        self, fd: int, offset: int, size: int, on_bytes: Callable[[int], None], buffer: bytearray | None = None
    ) -> None:
        self._fd = fd
        self._buffer = memoryview(buffer) if buffer is not None else None
        self._position = offset
        self._left = size
        self._size = size
        self._on_bytes = on_bytes

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes | memoryview:
        if shutdown.requested():
            raise Stopped()
        amount = self._left if amount is None or amount < 0 else min(amount, self._left)
        if self._buffer is not None:
            amount = min(amount, len(self._buffer))
            data = self._buffer[: os.preadv(self._fd, [self._buffer[:amount]], self._position)]
        else:
            data = os.pread(self._fd, amount, self._position)
        self._position += len(data)
        self._left -= len(data)
        self._on_bytes(len(data))
        return data


class _Buffers:
    """BLOCK_SIZE buffers lent to the parts in flight and given back: the process allocates as many as
    it ever had parts in flight, not one per block (which glibc would keep in every thread's arena)."""

    def __init__(self) -> None:
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def lend(self) -> Iterator[bytearray]:
        with self._lock:
            buffer = self._free.pop() if self._free else bytearray(BLOCK_SIZE)
        try:
            yield buffer
        finally:
            with self._lock:
                if len(self._free) < _BUFFERS_KEPT:  # after a wide WAN upload, the rest goes back
                    self._free.append(buffer)


_buffers = _Buffers()


class Progress:
    """Bytes sent (including parts in flight), the rate over the last seconds, and the ETA."""

    def __init__(
        self,
        upload_id: int,
        total: int,
        done: int,
        sink: Callable[["Progress"], None],
        budget: concurrency.PartBudget | None = None,
    ) -> None:
        self.upload_id, self.total, self.sent = upload_id, total, done
        self._sink = sink
        self.budget = budget
        self._lock = threading.Lock()
        self._samples: list[tuple[float, int]] = [(time.monotonic(), done)]
        self._last_emit = 0.0

    def add(self, amount: int) -> None:
        if self.budget is not None:
            self.budget.carried(amount)
        with self._lock:
            self.sent += amount
            now = time.monotonic()
            if now - self._last_emit < 0.5:  # two updates a second at most
                return
            self._last_emit = now
            self._samples = [(t, b) for t, b in self._samples if now - t < 5.0] + [(now, self.sent)]
        self._sink(self)

    def rewind(self, amount: int) -> None:  # a part that failed half-way is sent again
        with self._lock:
            self.sent -= amount

    @property
    def rate(self) -> float:
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0

    @property
    def concurrency(self) -> concurrency.Snapshot | None:
        """The process's parts in flight: the limit the controller chose, and its aggregate rate."""
        return self.budget.snapshot() if self.budget is not None else None

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate
        return (self.total - self.sent) / rate if rate > 0 else None


def store_progress(progress: Progress) -> None:
    """The live figure for the dashboard (the resume point is the parts' done_at, not this)."""
    snapshot = progress.concurrency
    realtime.publish(
        "upload.progress",
        {
            "upload_id": progress.upload_id,
            "bytes_sent": progress.sent,
            "bytes_total": progress.total,
            "rate_bps": round(progress.rate),
            "eta_seconds": None if progress.eta_seconds is None else round(progress.eta_seconds),
            "state": Upload.State.UPLOADING,
            "concurrency": snapshot.limit if snapshot else None,
            "parts_in_flight": snapshot.in_flight if snapshot else None,
            "process_rate_bps": round(snapshot.rate_bps) if snapshot else None,
        },
    )


_thread_sessions = threading.local()


class _LargeBlocks(requests.adapters.HTTPAdapter):
    """urllib3 sends a file-like body in `blocksize` reads (16 KiB by default): BLOCK_SIZE instead. And
    the kernel's send buffer is bounded, so that bytes counted as sent are bytes on their way, not
    megabytes parked in the socket (the concurrency controller measures the rate from them); a
    connection still carries SEND_BUFFER per round trip (26 MB/s at 40 ms), more connections the rest."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["blocksize"] = BLOCK_SIZE
        kwargs["socket_options"] = [*HTTPConnection.default_socket_options, SEND_BUFFER_OPTION]
        super().init_poolmanager(*args, **kwargs)


def _session() -> requests.Session:
    if not hasattr(_thread_sessions, "session"):
        session = requests.Session()
        session.mount("http://", _LargeBlocks())
        session.mount("https://", _LargeBlocks())
        _thread_sessions.session = session
    return _thread_sessions.session


def put_parts(job: Job, keeper: LeaseKeeper, on_progress) -> None:
    pending = list(UploadPart.objects.filter(upload=job.upload, done_at__isnull=True))
    if not pending:
        return
    budget = concurrency.budget()
    progress = Progress(job.upload.pk, job.upload.bytes_total, job.upload.bytes_done, on_progress, budget)
    stop = threading.Event()
    recorder = _Recorder(job, settings.FRAMEIO_PART_RECORD_SECONDS)
    fd = open_review_file(job.file)
    started, sent_before = time.monotonic(), progress.sent

    def send(part: UploadPart) -> None:
        try:
            if stop.is_set():
                return
            keeper.check()
            put_part(job, fd, part, progress, stop)
            recorder.landed(part)
        except BaseException:
            stop.set()  # the parts not started yet are left for the next attempt
            raise

    def stopping() -> bool:
        return stop.is_set() or shutdown.requested()

    workers = _PartWorkers(send, budget.release)
    handed = 0
    try:
        # This thread hands a part over each time the budget has a slot: only it waits on the budget, and
        # it alone records the parts that landed, when they are due (the part threads never open a
        # database connection: each would hold its own SQLite page cache).
        for part in pending:
            recorder.flush_due()
            if not budget.acquire(stopping, idle=recorder.flush_due):
                break
            if stop.is_set():
                budget.release()
                break
            workers.hand(part)
            handed += 1
        workers.finish(idle=recorder.flush_due)
        recorder.flush()
        if workers.errors:
            raise _first_of(workers.errors)
        if shutdown.requested() and handed < len(pending):
            raise Stopped()
    finally:
        workers.finish()
        os.close(fd)
        with _logged("upload %s: recording the parts that landed", job.upload.pk):
            recorder.flush()  # an attempt that failed still keeps the parts that landed
    _measured(job, budget, progress.sent - sent_before, time.monotonic() - started)
    job.upload.refresh_from_db(fields=["bytes_done", "state"])
    if job.upload.state == Upload.State.CANCELLED:
        raise Stopped()


@contextlib.contextmanager
def _logged(message: str, *args) -> Iterator[None]:
    """In a `finally` whose exception must not hide the one going through: log instead of raising."""
    try:
        yield
    except Exception:
        logger.exception(message, *args)


class _Recorder:
    """The parts that landed (`landed`, from the part threads), recorded by put_parts' thread (done_at, the
    upload's bytes_done) in one small transaction at most `interval` seconds or RECORD_EVERY_PARTS parts
    after they land, rather than one commit per part. Resume
    stays at part granularity: a crash before a batch is recorded re-sends those parts (a PUT of a part
    replaces it; the file is the same), never more."""

    def __init__(self, job: Job, interval: float) -> None:
        self._job = job
        self._interval = interval
        self._landed: list[UploadPart] = []
        self._lock = threading.Lock()
        self._since = 0.0  # when the oldest part waiting landed

    def landed(self, part: UploadPart) -> None:
        with self._lock:
            if not self._landed:
                self._since = time.monotonic()
            self._landed.append(part)

    def flush_due(self) -> None:
        """Record the waiting parts if the oldest waited `interval`, or enough of them wait."""
        with self._lock:
            if not self._landed:
                return
            if len(self._landed) < RECORD_EVERY_PARTS and time.monotonic() - self._since < self._interval:
                return
        self.flush()

    def flush(self) -> None:
        with self._lock:
            parts, self._landed = self._landed, []
        if not parts:
            return
        now = timezone.now()
        with transaction.atomic():
            UploadPart.objects.filter(pk__in=[part.pk for part in parts]).update(done_at=now)
            Upload.objects.filter(pk=self._job.upload.pk, lease_owner=self._job.owner).update(
                bytes_done=F("bytes_done") + sum(part.size for part in parts)
            )


class _PartWorkers:
    """Threads that send the parts handed to them: started as parts go in flight (never more threads
    than parts were ever in flight at once); a database connection one opens anyway is closed when it
    ends. `done` is
    called after each part (the budget's slot back), once the thread counts as free again."""

    def __init__(self, work: Callable[[UploadPart], None], done: Callable[[], None]) -> None:
        self._work = work
        self._done = done
        self._queue: queue.SimpleQueue[UploadPart | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._lock = threading.Lock()
        self.errors: list[BaseException] = []

    def hand(self, part: UploadPart) -> None:
        with self._lock:
            self._busy += 1
            if len(self._threads) < self._busy:
                thread = threading.Thread(target=self._run, name=f"part-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put(part)

    def finish(self, idle: Callable[[], None] | None = None) -> None:
        """Wait for every part handed over (calling `idle` now and then); the threads end."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            while idle is not None and thread.is_alive():
                thread.join(0.1)
                idle()
            thread.join()

    def _run(self) -> None:
        try:
            while (part := self._queue.get()) is not None:
                try:
                    self._work(part)
                except BaseException as exc:  # handed back to put_parts, which raises it
                    with self._lock:
                        self.errors.append(exc)
                with self._lock:
                    self._busy -= 1
                self._done()
        finally:
            connection.close()  # this thread's own database connection


def _measured(job: Job, budget: concurrency.PartBudget, sent: int, seconds: float) -> None:
    """Every part landed: how fast, with how many in flight (the report's "chosen concurrency")."""
    snapshot = budget.snapshot()
    rate = sent / seconds if seconds > 0 else 0.0
    logger.info(
        "upload %s: %.1f MB in %.1f s (%.1f MB/s), %s parts in flight%s",
        job.upload.pk,
        sent / 1e6,
        seconds,
        rate / 1e6,
        snapshot.limit,
        " (FRAMEIO_PART_CONCURRENCY)" if snapshot.pinned else "",
    )
    upload_transfer_measured.send(
        sender=Upload, upload_id=job.upload.pk, rate_bps=rate, concurrency=snapshot.limit, pinned=snapshot.pinned
    )


def _first_of(errors: list[BaseException]) -> BaseException:
    for kind in (Stopped, UrlsExpired):  # these decide what happens next
        for error in errors:
            if isinstance(error, kind):
                return error
    return errors[0]


def put_part(job: Job, fd: int, part: UploadPart, progress: Progress, stop: threading.Event) -> None:
    url = decrypt(part.url_enc)
    headers = {"Content-Type": job.upload.media_type, "x-amz-acl": "private"}
    direct = not _proxied(url)
    for attempt in range(settings.FRAMEIO_PART_RETRIES):
        sent = 0

        def counted(amount: int) -> None:
            nonlocal sent
            sent += amount
            progress.add(amount)

        try:
            with _buffers.lend() as buffer:
                body = PartBody(fd, part.offset, part.size, counted, buffer)
                if direct:
                    status, text = _put_direct(url, headers, body)
                else:
                    response = _session().put(url, data=body, headers=headers, timeout=PART_TIMEOUT)
                    status, text = response.status_code, response.text
        except (requests.RequestException, OSError, http.client.HTTPException) as exc:
            reason = f"part {part.index + 1}: {type(exc).__name__}"
        else:
            if 200 <= status < 300:
                return  # a redirect is not a part stored: it fails below
            if status == 403 and "Request has expired" in text:
                raise UrlsExpired()
            reason = f"part {part.index + 1}: HTTP {status}"
            if status < 500 and status not in (408, 429):
                raise UploadFailed(f"{reason} from {redact_url(url)}: {redact(text[:200])}")
        progress.rewind(sent)
        if progress.budget is not None:
            progress.budget.congestion()  # a reset, a timeout, a 5xx, 429 or 503: fewer parts in flight
        if stop.is_set():
            raise Stopped()
        delay = random.uniform(0, min(30.0, 0.5 * 2**attempt))  # noqa: S311 - jitter, not crypto
        logger.info("upload %s %s; retrying in %.1f s", job.upload.pk, reason, delay)
        if shutdown.sleep(delay):
            raise Stopped()
    raise UploadFailed(f"{reason} after {settings.FRAMEIO_PART_RETRIES} tries")


def _proxied(url: str) -> bool:
    """Whether the environment sends this URL through a proxy (then requests carries the part)."""
    split = urllib.parse.urlsplit(url)
    environment = tuple(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES)
    return _proxied_cached(f"{split.scheme}://{split.netloc}/", environment)


@functools.lru_cache(maxsize=64)
def _proxied_cached(origin: str, environment: tuple) -> bool:
    return bool(requests.utils.get_environ_proxies(origin))


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """As requests verifies: its CA bundle, or the one REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE names."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or requests.certs.where()
    return ssl.create_default_context(cafile=bundle)


def _connection(split: urllib.parse.SplitResult) -> http.client.HTTPConnection:
    """This thread's keep-alive connection to the part's host: made again when the server closed it."""
    connections = _thread_sessions.__dict__.setdefault("direct", {})
    key = (split.scheme, split.hostname, split.port)
    conn = connections.get(key)
    if conn is not None and conn.sock is not None and wait_for_read(conn.sock, timeout=0):
        conn.close()  # readable while idle: the server closed it (or sent what it should not have)
    if conn is None:
        if split.scheme == "https":
            conn = http.client.HTTPSConnection(
                split.hostname, split.port, timeout=PART_TIMEOUT[0], context=_tls_context()
            )
        else:
            conn = http.client.HTTPConnection(split.hostname, split.port, timeout=PART_TIMEOUT[0])
        connections[key] = conn
    if conn.sock is None:
        try:
            conn.connect()
        except BaseException:
            # A TLS handshake that failed leaves the plain socket detached (fd -1) on the connection: the
            # next attempt must start from nothing, not poll a dead descriptor (a ValueError, no retry).
            conn.close()
            raise
        conn.sock.setsockopt(*SEND_BUFFER_OPTION)
        conn.sock.settimeout(PART_TIMEOUT[1])
    return conn


def _put_direct(url: str, headers: dict[str, str], body: PartBody) -> tuple[int, str]:
    """One part PUT on http.client: what requests does for it, less its Python work per request (proxy
    lookups in the environment, URL re-encoding, hooks), which cost more CPU than the bytes on loopback."""
    split = urllib.parse.urlsplit(url)
    conn = _connection(split)
    try:
        conn.putrequest("PUT", f"{split.path}?{split.query}" if split.query else split.path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        while block := body.read(BLOCK_SIZE):
            conn.sock.sendall(block)
        response = conn.getresponse()
        text = response.read()
    except BaseException:
        conn.close()
        raise
    if response.will_close:
        conn.close()
    return response.status, text.decode("utf-8", "replace")
