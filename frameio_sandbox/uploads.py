"""Local upload as Frame.io does it: presigned S3-style part URLs, then created -> uploaded -> transcoded.

`files/local_upload` answers `upload_urls`, a list of {size, url}: the file split in `n` parts of
ceil(file_size / n) bytes, the last one shorter. Frame.io does not document how it picks `n` (its one
published example is 3 parts of 16,881,997 bytes for a 50,645,990-byte file, and the spec's example uses a
20,000,000-byte part); the sandbox takes n = ceil(file_size / upload_part_size) with a 20,000,000-byte
default, which reproduces both, capped at S3's 10,000 parts per upload.

Each part URL is a presigned-looking URL on the sandbox (`/s3/<bucket>/parts/<file id>/part_<n>?X-Amz-...`)
whose signature covers the method, the path, the issue time, the expiry, and the values of the two signed
headers, Content-Type (the file's media_type) and x-amz-acl ("private"), as S3 SigV4 does. As on S3:
an expired URL answers 403 AccessDenied "Request has expired"; a different Content-Type or a missing
x-amz-acl answers 403 SignatureDoesNotMatch; a body without Content-Length (chunked) answers 411
MissingContentLength; a part PUT again overwrites the previous one. Bodies are streamed to disk in chunks of
at most `body_chunk_size` bytes and never held in memory whole.

There is no "complete" call: once every part has arrived with its planned size the file becomes "uploaded"
(event file.upload.completed), then "transcoded" after `transcode_delay` seconds (event file.ready).
"""

import calendar
import hashlib
import hmac
import math
import mimetypes
import secrets
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from frameio_sandbox.server import Sandbox, _Handler

UPLOAD_BUCKET = "frameio-uploads"
ASSET_BUCKET = "frameio-assets"
_SIGNED_HEADERS = "content-type;host;x-amz-acl"
_QUERY_KEYS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature")
_MIME = mimetypes.MimeTypes()  # the built-in table only, not the host's /etc/mime.types
_POST_TYPES = {
    ".mov": "video/quicktime",
    ".mp4": "video/mp4",
    ".mxf": "application/mxf",
    ".exr": "image/x-exr",
    ".dpx": "image/x-dpx",
    ".wav": "audio/wav",
    ".r3d": "video/x-red-r3d",
    ".braw": "video/x-braw",
}


class UploadRefused(Exception):
    """An S3-style refusal: HTTP status, S3 error code, message, extra XML elements."""

    def __init__(self, status: int, code: str, message: str, reason: str, **extra: str):
        super().__init__(message)
        self.status, self.code, self.message, self.reason, self.extra = status, code, message, reason, extra


def media_type_for(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _POST_TYPES.get(suffix) or _MIME.guess_type(f"x{suffix}")[0] or "application/octet-stream"


def plan_parts(file_size: int, part_size: int, max_parts: int) -> list[int]:
    """Part sizes for a file: n = ceil(size / part_size) parts (at most max_parts) of ceil(size / n) bytes."""
    count = min(max(1, math.ceil(file_size / part_size)), max_parts)
    chunk = math.ceil(file_size / count)
    count = math.ceil(file_size / chunk)  # the cap can leave the last chunk empty otherwise
    return [chunk] * (count - 1) + [file_size - chunk * (count - 1)]


def _amz_date(at: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at))


def _signature(sb: "Sandbox", *fields: str) -> str:
    return hmac.new(sb.state.signing_key.encode(), "\n".join(fields).encode(), hashlib.sha256).hexdigest()


def _presign(sb: "Sandbox", method: str, path: str, headers: tuple[str, ...], extra: dict[str, str]) -> str:
    issued = sb.clock.now()
    amz_date, expires = _amz_date(issued), str(int(sb.config.upload_url_ttl))
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"ASIASANDBOX/{amz_date[:8]}/us-east-1/s3/aws4_request",
        "X-Amz-Date": amz_date,
        "X-Amz-Expires": expires,
        "X-Amz-SignedHeaders": _SIGNED_HEADERS if headers else "host",
        **extra,
    }
    query["X-Amz-Signature"] = _signature(sb, method, path, amz_date, expires, *headers, *extra.values())
    return f"{sb.base_url}{path}?{urlencode(query, quote_via=quote)}"


def part_url(sb: "Sandbox", file_id: str, part: int, media_type: str) -> str:
    return _presign(sb, "PUT", f"/s3/{UPLOAD_BUCKET}/parts/{file_id}/part_{part}", (media_type, "private"), {})


def download_url(sb: "Sandbox", record: dict, attachment: bool) -> str:
    disposition = "attachment" if attachment else "inline"
    extra = {"response-content-disposition": f'{disposition}; filename="{record["name"]}"'}
    return _presign(sb, "GET", f"/s3/{ASSET_BUCKET}/{record['id']}/original", (), extra)


def _verify(sb: "Sandbox", method: str, path: str, query: dict[str, str], headers: tuple[str, ...]) -> None:
    if any(key not in query for key in _QUERY_KEYS):
        raise UploadRefused(
            403,
            "AccessDenied",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            "not a presigned URL",
        )
    try:
        issued = calendar.timegm(time.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        lifetime = int(query["X-Amz-Expires"])
    except ValueError:
        raise UploadRefused(403, "AuthorizationQueryParametersError", "Invalid date or expiry.", "bad query") from None
    now = sb.clock.now()
    if now > issued + lifetime:
        raise UploadRefused(
            403,
            "AccessDenied",
            "Request has expired",
            "URL expired",
            **{
                "X-Amz-Expires": str(lifetime),
                "Expires": sb.clock.iso(issued + lifetime)[:19] + "Z",
                "ServerTime": sb.clock.iso(now)[:19] + "Z",
            },
        )
    extra = {k: v for k, v in query.items() if k.startswith("response-")}
    expected = _signature(sb, method, path, query["X-Amz-Date"], query["X-Amz-Expires"], *headers, *extra.values())
    if not hmac.compare_digest(expected, query["X-Amz-Signature"]):
        raise UploadRefused(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            "signature mismatch",
        )


def s3_error_body(error: UploadRefused) -> bytes:
    extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in error.extra.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code><Message>{escape(error.message)}</Message>{extra}"
        f"<RequestId>{secrets.token_hex(8).upper()}</RequestId><HostId>{secrets.token_urlsafe(32)}</HostId></Error>"
    ).encode()


def handle_part_put(handler: "_Handler", sb: "Sandbox", path: str, query: dict[str, str]) -> None:
    """PUT /s3/frameio-uploads/parts/<file id>/part_<n>"""
    segments = path.strip("/").split("/")
    if len(segments) != 5 or segments[1] != UPLOAD_BUCKET or not segments[4].startswith("part_"):
        raise UploadRefused(404, "NoSuchKey", "The specified key does not exist.", "no such upload path")
    file_id, part = segments[3], segments[4].removeprefix("part_")
    content_type = handler.headers.get("Content-Type", "")
    acl = handler.headers.get("x-amz-acl", "")
    try:
        _verify(sb, "PUT", path, query, (content_type, acl))
    except UploadRefused as refusal:
        with sb.state.lock:
            record = sb.state.files.get(file_id)
            if record and refusal.code == "SignatureDoesNotMatch":
                refusal.reason = _mismatch_reason(record, content_type, acl)
        raise
    if handler.body_length is None:
        raise UploadRefused(
            411, "MissingContentLength", "You must provide the Content-Length HTTP header.", "chunked body"
        )
    with sb.state.lock:
        record = sb.state.files.get(file_id)
        if record is not None and record.get("_uploaded_at") is None:
            record["_uploaded_at"] = sb.clock.iso()
    target_dir = sb.data_dir / file_id
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"part_{part}"
    tmp = target_dir / f".part_{part}.{uuid.uuid4().hex}"
    digest = hashlib.md5()  # noqa: S324 - S3's ETag of a part is the MD5 of its bytes
    size = 0
    try:
        with tmp.open("wb") as out:
            for chunk in handler.iter_body():
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    etag = f'"{digest.hexdigest()}"'
    tmp.replace(target)
    _record_part(sb, file_id, part, size, etag, target)
    handler.respond(200, b"", "application/xml", {"ETag": etag})


def _mismatch_reason(record: dict, content_type: str, acl: str) -> str:
    if content_type != record["media_type"]:
        return f"Content-Type {content_type or '(none)'} is not the file's media_type {record['media_type']}"
    if acl != "private":
        return "x-amz-acl: private is missing" if not acl else f"x-amz-acl is {acl}, not private"
    return "signature mismatch"


def _record_part(sb: "Sandbox", file_id: str, part: str, size: int, etag: str, path: Path) -> None:
    with sb.state.lock:
        record = sb.state.files.get(file_id)
        if record is None:  # deleted meanwhile: S3 would still take the bytes; nobody will read them
            path.unlink(missing_ok=True)
            return
        record["_parts"][part] = {"size": size, "etag": etag, "path": str(path), "at": sb.clock.iso()}
        plan = record["_plan"]
        arrived = [record["_parts"].get(str(i)) for i in range(1, len(plan) + 1)]
        if any(p is None for p in arrived):
            return
        complete = all(p["size"] == expected for p, expected in zip(arrived, plan, strict=True))
        record["_upload_failed"] = not complete
        if complete and record["status"] == "created":
            now = sb.clock.iso()
            record.update(status="uploaded", updated_at=now, _upload_completed_at=now)
            sb.emit(
                "file.upload.completed", "file", file_id, project_id=record["project_id"], user_id=record["_creator_id"]
            )
            sb.scheduler.call_later(sb.config.transcode_delay, lambda: _finish_transcode(sb, file_id))
    sb.persist()


def _finish_transcode(sb: "Sandbox", file_id: str) -> None:
    with sb.state.lock:
        record = sb.state.files.get(file_id)
        if record is None or record["status"] != "uploaded":
            return
        record.update(status="transcoded", updated_at=sb.clock.iso())
        sb.emit("file.ready", "file", file_id, project_id=record["project_id"], user_id=record["_creator_id"])
    sb.persist()


def resume_transcodes(sb: "Sandbox") -> None:
    """After loading a state file: files left "uploaded" finish their transcode."""
    with sb.state.lock:
        pending = [f["id"] for f in sb.state.files.values() if f["status"] == "uploaded"]
    for file_id in pending:
        sb.scheduler.call_later(sb.config.transcode_delay, lambda file_id=file_id: _finish_transcode(sb, file_id))


def handle_download(handler: "_Handler", sb: "Sandbox", path: str, query: dict[str, str]) -> None:
    """GET /s3/frameio-assets/<file id>/original: the uploaded bytes, parts joined, streamed."""
    segments = path.strip("/").split("/")
    if len(segments) != 4 or segments[1] != ASSET_BUCKET or segments[3] != "original":
        raise UploadRefused(404, "NoSuchKey", "The specified key does not exist.", "no such asset path")
    _verify(sb, "GET", path, query, ())
    with sb.state.lock:
        record = sb.state.files.get(segments[2])
        if record is None or record["status"] == "created":
            raise UploadRefused(404, "NoSuchKey", "The specified key does not exist.", "no such file")
        parts = [Path(record["_parts"][str(i)]["path"]) for i in range(1, len(record["_plan"]) + 1)]
        headers = {"Content-Disposition": query.get("response-content-disposition", "inline")}
        media_type, size = record["media_type"], record["file_size"]
    handler.respond_stream(200, media_type, size, _read_parts(parts, sb.config.body_chunk_size), headers)


def _read_parts(parts: list[Path], chunk_size: int):
    for part in parts:
        with part.open("rb") as stream:
            while chunk := stream.read(chunk_size):
                yield chunk
