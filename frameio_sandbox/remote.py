"""Remote upload as Frame.io does it: `files/remote_upload` takes a `source_url`, answers 202 with the file
("created"), and Frame.io fetches the URL itself; the file becomes "uploaded" once every byte arrived,
then "transcoded" as a local upload does.

The sandbox fetches over loopback only (it has no other network, and must never be an open fetcher):
a `source_url` whose host is not one of `config.webhook_hosts` is refused with 422. The fetch runs on its
own thread, streams to disk, and resumes a cut transfer with `Range: bytes=N-` and `If-Range: <ETag>`,
as a downloader of large files does; a source that answers 200 to a Range request (it ignored the
range, or the ETag changed) is read from the start again. A fault rule on the method "FETCH"
(`sandbox.faults.add("FETCH *", reset_after=50_000_000, times=1)`) cuts the fetch after that many
bytes; `sandbox.fetches` records every request of every fetch (its Range header and the answer) for tests.
"""

import hashlib
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

if TYPE_CHECKING:
    from frameio_sandbox.server import Sandbox

logger = logging.getLogger(__name__)

FETCH_TRIES = 5
FETCH_TIMEOUT = (10, 60)


class RemoteRefused(Exception):
    """The source URL is not one the sandbox fetches (not loopback, not http)."""


def check_source(sb: "Sandbox", source_url: str) -> None:
    split = urlsplit(source_url)
    if split.scheme not in ("http", "https") or (split.hostname or "") not in sb.config.webhook_hosts:
        raise RemoteRefused("The sandbox fetches only loopback http(s) URLs (config.webhook_hosts)")


def start_fetch(sb: "Sandbox", file_id: str, source_url: str) -> None:
    thread = threading.Thread(target=_fetch, args=(sb, file_id, source_url), name=f"remote-{file_id[:8]}", daemon=True)
    thread.start()


class _Progress:
    """What a fetch has so far: bytes on disk, the source's ETag, its total size once known."""

    def __init__(self) -> None:
        self.received, self.etag, self.total = 0, None, None


def _fetch(sb: "Sandbox", file_id: str, source_url: str) -> None:
    target_dir = sb.data_dir / file_id
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "part_1"
    got = _Progress()
    with target.open("wb") as out:
        for _ in range(FETCH_TRIES):
            try:
                _one_request(sb, source_url, out, got)
            except (requests.RequestException, OSError) as exc:
                logger.info("sandbox remote upload %s: cut at %s bytes (%s)", file_id, got.received, type(exc).__name__)
                continue
            if got.received == got.total:
                break
        else:
            _fail(sb, file_id, f"fetch failed after {FETCH_TRIES} tries")
            return
    _complete(sb, file_id, target, got.received)


def _one_request(sb: "Sandbox", url: str, out, got: _Progress) -> None:
    headers = {}
    if got.received:
        headers["Range"] = f"bytes={got.received}-"
        if got.etag:
            headers["If-Range"] = got.etag
    plan = sb.faults.plan("FETCH", urlsplit(url).path)
    with requests.get(url, headers=headers, stream=True, timeout=FETCH_TIMEOUT) as response:
        sb.fetches.append({"range": headers.get("Range"), "status": response.status_code})
        if response.status_code == 200:
            got.received = 0  # the whole file again (no range support, or the content changed)
            out.seek(0)
            out.truncate()
        elif response.status_code != 206:
            raise requests.HTTPError(f"source answered {response.status_code}")
        got.total, got.etag = _total(response, got.received), response.headers.get("ETag")
        for chunk in response.iter_content(sb.config.body_chunk_size):
            if plan.reset_after is not None and got.received + len(chunk) >= plan.reset_after:
                raise requests.ConnectionError("injected reset of the fetch")  # the with closes the socket
            out.write(chunk)
            got.received += len(chunk)
        out.flush()


def _total(response: requests.Response, offset: int) -> int:
    content_range = response.headers.get("Content-Range", "")
    if response.status_code == 206 and "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return offset + int(response.headers.get("Content-Length", "0"))


def _complete(sb: "Sandbox", file_id: str, path: Path, size: int) -> None:
    from frameio_sandbox.uploads import _finish_transcode

    digest = hashlib.md5()  # noqa: S324 - an ETag, as S3 makes it
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    with sb.state.lock:
        record = sb.state.files.get(file_id)
        if record is None:
            return
        now = sb.clock.iso()
        part = {"size": size, "etag": f'"{digest.hexdigest()}"', "path": str(path), "at": now}
        record.update(file_size=size, _plan=[size], _parts={"1": part}, _uploaded_at=now)
        record.update(status="uploaded", updated_at=now, _upload_completed_at=now)
        ids = {"project_id": record["project_id"], "user_id": record["_creator_id"]}
        sb.emit("file.upload.completed", "file", file_id, **ids)
    sb.scheduler.call_later(sb.config.transcode_delay, lambda: _finish_transcode(sb, file_id))
    sb.persist()


def _fail(sb: "Sandbox", file_id: str, reason: str) -> None:
    logger.warning("sandbox remote upload %s: %s", file_id, reason)
    with sb.state.lock:
        record = sb.state.files.get(file_id)
        if record is not None:
            record["_upload_failed"] = True
    sb.persist()
