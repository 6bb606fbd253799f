"""Settings of one sandbox instance.

Fields marked "live" are read on every request, so a test may change them on `sandbox.config` while the
sandbox runs; the others are read once at start.
"""

from dataclasses import dataclass, field
from pathlib import Path

# The credential postflow's embedded default uses against the sandbox; not a secret anywhere.
DEFAULT_CLIENT_ID = "postflow-sandbox"
DEFAULT_CLIENT_SECRET = "postflow-sandbox-secret"  # noqa: S105 - a well-known local test credential

# Adobe's "Redirect URI pattern" is a regex list; the sandbox registers loopback callbacks by default.
DEFAULT_REDIRECT_URI_PATTERNS = (r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?/.*",)
DEFAULT_SCOPES = (
    "openid",
    "email",
    "profile",
    "offline_access",
    "additional_info.roles",
    "AdobeID",
    "frame.s2s.all",
)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class SandboxConfig:
    # -- network
    host: str = "127.0.0.1"
    port: int = 0  # 0: an ephemeral port, read it back from `sandbox.base_url`
    path_prefix: str = ""  # serve under e.g. "/frameio-sandbox"; requests without it are accepted too
    # The base URL the sandbox hands out (upload part URLs, view_url, short_url, its pages) when clients reach
    # it through a proxy, e.g. "http://127.0.0.1:8000/frameio-sandbox" when embedded in the web process.
    # Empty: its own address (`sandbox.listen_url`).
    public_url: str = ""
    # -- storage
    data_dir: Path | None = None  # uploaded parts; None: a temporary directory removed at stop
    state_file: Path | None = None  # JSON file loaded at start and rewritten after every change
    # -- Adobe IMS
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    redirect_uri_patterns: tuple[str, ...] = DEFAULT_REDIRECT_URI_PATTERNS
    allowed_scopes: tuple[str, ...] = DEFAULT_SCOPES
    s2s_enabled: bool = True  # grant_type=client_credentials (Server-to-Server)
    access_token_ttl: float = 86399.0  # live; IMS answers expires_in 86399 for its 24 h tokens
    refresh_token_ttl: float = 14 * 86400.0  # live
    auth_code_ttl: float = 300.0  # live
    # -- API behaviour
    rate_limits: bool = True  # live; the per-endpoint limits of the published table
    upload_url_ttl: float = 3600.0  # live; lifetime of the presigned part URLs
    upload_part_size: int = 20_000_000  # target part size; see uploads.plan_parts
    max_upload_parts: int = 10_000  # S3's limit on parts per multipart upload
    transcode_delay: float = 2.0  # live; seconds from "uploaded" to "transcoded"
    default_fps: float = 25.0  # frame rate the sandbox assumes for comment timecodes
    # -- webhooks
    webhook_attempts: int = 5  # live; initial + 4 retries
    webhook_retry_base: float = 15.0  # live; first back-off, doubled at each retry (+ up to 10 % jitter)
    webhook_retry_scale: float = 1.0  # live; multiplies every back-off (tests compress with e.g. 0.001)
    webhook_timeout: float = 5.0  # live; a slower answer counts as a failure
    webhook_hosts: tuple[str, ...] = field(default=LOOPBACK_HOSTS)  # live; never POST anywhere else
    # -- a WAN for S3's traffic (link.py); live through `sandbox.link.configure(...)`
    link_rate: float = 0.0  # bytes per second shared by every connection; 0: no cap
    link_rtt: float = 0.0  # seconds per request and per `link_window` bytes of body
    link_window: int = 1024 * 1024
    link_loss: float = 0.0  # probability that a request is reset in its body
    part_bandwidth: int = 0  # bytes per second per part PUT (a fault rule "PUT /s3/*" added at start)
    # -- faults
    seed: int | None = None  # makes fault injection and retry jitter deterministic
    # -- internals
    body_chunk_size: int = 64 * 1024  # the most the server reads from a request body at once
    drain_limit: int = 16 * 1024 * 1024  # body bytes read and discarded before a refusal; beyond: close
    json_body_limit: int = 8 * 1024 * 1024
