"""The part sender's other roads, on real sockets: HTTPS (Frame.io's S3 is HTTPS; the sandbox is plain
HTTP), a certificate nobody trusts, a redirect, and a proxy named in the environment (then requests
carries the part). Each part arrives whole, with its Content-Length, or fails with a reason."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from frameio.crypto import encrypt
from frameio.uploads import transfer
from frameio.uploads.errors import UploadFailed
from tests.servers import local_servers

BODY = bytes(range(256)) * 12_000  # 3 MB: three 1 MiB blocks and a rest


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        self.server.received.append({"path": self.path, "length": length, "body": body, "port": self.client_address[1]})
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.send_response(status)
        if status in (301, 302, 307, 308):
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", "0")
        self.send_header("ETag", '"etag"')
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    with local_servers() as servers:

        def start(*statuses: int, context: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
            httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
            httpd.received, httpd.statuses = [], list(statuses)
            if context is not None:
                httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
            return servers.serve(httpd)

        yield start


@pytest.fixture(autouse=True)
def fresh_connections(monkeypatch):
    """No keep-alive connection, TLS context or proxy answer left from another test (they are cached)."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    transfer._thread_sessions.__dict__.clear()
    transfer._tls_context.cache_clear()
    transfer._proxied_cached.cache_clear()
    yield
    transfer._thread_sessions.__dict__.clear()
    transfer._tls_context.cache_clear()
    transfer._proxied_cached.cache_clear()


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), written as PEM: (certificate, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "postflow test S3")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "s3.pem", folder / "s3.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _tls_server(server, folder: Path, *statuses: int):
    cert_path, key_path = _certificate(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return server(*statuses, context=context), cert_path


def _part_file(tmp_path: Path) -> Path:
    path = tmp_path / "UNDLM_00042_v001.mov"
    path.write_bytes(BODY)
    return path


def _send(tmp_path: Path, url: str, settings) -> transfer.Progress:
    """put_part for one part of the whole file, as an upload's thread calls it."""
    settings.FRAMEIO_PART_RETRIES = 2
    fd = os.open(_part_file(tmp_path), os.O_RDONLY)
    progress = transfer.Progress(1, len(BODY), 0, lambda p: None)
    part = SimpleNamespace(url_enc=encrypt(url), index=0, offset=0, size=len(BODY))
    job = SimpleNamespace(upload=SimpleNamespace(pk=1, media_type="video/quicktime"))
    try:
        transfer.put_part(job, fd, part, progress, threading.Event())
    finally:
        os.close(fd)
    return progress


def test_https_with_a_trusted_certificate_sends_the_part_whole_on_one_connection(
    server, tmp_path, settings, monkeypatch
):
    httpd, ca = _tls_server(server, tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))  # as requests would verify it
    url = f"https://127.0.0.1:{httpd.server_address[1]}/s3/frameio-uploads/parts/f1/part_1?X-Amz-Signature=abc"
    progress = _send(tmp_path, url, settings)
    _send(tmp_path, url, settings)  # the next part: the same keep-alive TLS connection
    first, second = httpd.received
    assert (first["path"], first["length"], first["body"]) == (
        "/s3/frameio-uploads/parts/f1/part_1?X-Amz-Signature=abc",
        len(BODY),
        BODY,
    )
    assert second["body"] == BODY and second["port"] == first["port"]
    assert progress.sent == len(BODY)


def test_a_certificate_nobody_trusts_fails_the_part_with_its_reason(server, tmp_path, settings):
    httpd, _ca = _tls_server(server, tmp_path)  # REQUESTS_CA_BUNDLE not set: the system's CAs
    url = f"https://127.0.0.1:{httpd.server_address[1]}/s3/part_1"
    with pytest.raises(UploadFailed, match=r"part 1: SSLCertVerificationError after 2 tries"):
        _send(tmp_path, url, settings)
    assert httpd.received == []


def test_a_redirect_is_not_a_part_stored(server, tmp_path, settings):
    httpd = server(307)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/s3/part_1"
    with pytest.raises(UploadFailed, match=r"part 1: HTTP 307"):
        _send(tmp_path, url, settings)
    assert len(httpd.received) == 1  # sent once, not followed, not retried


def test_a_proxy_in_the_environment_carries_the_part(server, tmp_path, settings, monkeypatch):
    proxy = server()
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.server_address[1]}")
    url = "http://s3.frameio.invalid/s3/frameio-uploads/parts/f1/part_1?X-Amz-Signature=abc"
    progress = _send(tmp_path, url, settings)
    (seen,) = proxy.received
    assert seen["path"] == url  # a proxy gets the absolute URL
    assert (seen["length"], seen["body"]) == (len(BODY), BODY) and progress.sent == len(BODY)
