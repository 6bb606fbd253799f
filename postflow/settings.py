"""postflow settings, read from the environment (django-environ).

Every variable is documented in `.env.example`. A value that is not of its type fails at start naming
the variable, its value and what is expected (SettingError: one line and exit status 2 from manage.py, the
ASGI and WSGI processes; postflow/lib/bad_setting.py). Unset, everything falls back to the embedded
default: SQLite (WAL) under var/, no Redis, the Frame.io sandbox.

This module imports no app (they sit above it). It reads each value and checks its shape, raising
SettingError; a number out of range is a system check (postflow/checks.py); what a value means to an
app (a naming template, a stage rule, a shot status, a sheet field) is checked by that app's system
checks (ingest/checks.py, sheets/checks.py, frameio/checks.py, alerts/checks.py): `manage.py check` and
every other command run them, and so does the web process when it starts (postflow/asgi.py).
"""

import importlib.util
import os
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from postflow.lib.bad_setting import SettingError
from postflow.lib.secret_key import load_or_create_secret_key
from postflow.lib.timecode import parse_fps

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


# Every typed variable read, and its kind: tests/postflow/test_settings_errors.py gives each kind a bad value.
typed_variables: dict[str, str] = {}


def env_str(name: str, default: str) -> str:
    """The variable, stripped; unset or empty gives `default`, so the empty lines of a copied
    .env.example mean "use the default"."""
    return env.str(name, default="").strip() or default


def env_number(name: str, default: float, kind: type = float, expected: str = "") -> float:
    """An int or float variable; a value that is not one fails at start naming the variable."""
    typed_variables[name] = kind.__name__
    raw = env_str(name, "")
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        what = expected or ("a whole number" if kind is int else "a number")
        raise SettingError(name, raw, f"{what} such as {default:g}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    """A comma-separated variable; unset or empty gives `default`."""
    return [item.strip() for item in env_str(name, "").split(",") if item.strip()] or default


def env_bool(name: str, default: bool) -> bool:
    """Like env.bool, but a value that is not clearly true or false fails at start."""
    typed_variables[name] = "bool"
    raw = env.str(name, default="").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingError(name, raw, "true or false (or 1/0, yes/no, on/off)")


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (case-insensitive), in the case `choices` spell it."""
    typed_variables[name] = "choice"
    raw = env_str(name, default)
    spelled = {choice.lower(): choice for choice in choices}
    if raw.lower() not in spelled:
        raise SettingError(name, raw, f"one of {', '.join(choices)}")
    return spelled[raw.lower()]


def env_path(name: str, default: Path | str) -> Path:
    """An absolute path (~ expanded): a relative one would depend on where each process was started."""
    typed_variables[name] = "path"
    path = Path(env_str(name, str(default))).expanduser()
    if not path.is_absolute():
        raise SettingError(name, str(path), "an absolute path such as /mnt/lucidlink/production")
    return path


def env_secret_url(name: str, default: str, schemes: tuple[str, ...], example: str) -> str:
    """A service URL that may hold a password: its scheme is checked and its value never repeated."""
    typed_variables[name] = "secret_url"
    from urllib.parse import urlsplit

    value = env_str(name, default)
    if value and (urlsplit(value).scheme not in schemes or not (urlsplit(value).netloc or urlsplit(value).path)):
        raise SettingError(name, value, f"a URL such as {example}", secret=True)
    return value


VAR_DIR = env_path("POSTFLOW_VAR_DIR", BASE_DIR / "var")
try:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
except OSError as _exc:
    raise SettingError("POSTFLOW_VAR_DIR", str(VAR_DIR), f"a folder postflow can create ({_exc.strerror})") from None

DEBUG = env_bool("DEBUG", default=False)
# Unset, a random key is generated once and kept in var/secret_key (mode 0600), so a fresh
# checkout works without anyone inventing a key, and sessions survive restarts.
SECRET_KEY = env_str("SECRET_KEY", "") or load_or_create_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Behind a TLS-terminating reverse proxy (production): secure cookies, HSTS, HTTPS redirects, and the
# proxy's X-Forwarded-Proto trusted. Off for the embedded default on http://127.0.0.1.
POSTFLOW_HTTPS = env_bool("POSTFLOW_HTTPS", default=False)
if POSTFLOW_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_number("SECURE_HSTS_SECONDS", 31536000, int)
    # Both only when every subdomain is HTTPS too (docs/deploy.md): hard to undo once browsers cache them.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)

# daphne is not an app here: `make run` starts it directly, and leaving it out keeps Twisted out of
# every worker and command process (about 30 MB each).
INSTALLED_APPS = [
    "postflow.admin_site.PostflowAdminConfig",  # django.contrib.admin, the producers' tables first on its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    # Before django_q: its `qcluster` command overrides django-q2's (a bounded stop on SIGTERM).
    "postflow",
    "django_q",
    "shots",
    "ingest",
    "frameio",
    # Between frameio and alerts: it copies what frameio's review approved; alerts tells people about it.
    "delivery",
    "alerts",
    # Above every other app: the Google Sheets sync reads shots, renders, uploads and review notes,
    # and the supervisors' dashboard reads from all of them.
    "sheets",
    "dashboard",
    # The REST API (/api/v1/, docs/api.md), at the top with the dashboard. Not "ninja": an installed app is
    # imported by every process, and django-ninja brings pydantic (~11 MB in the watcher and each worker,
    # which never serve the API); its docs page's templates and files are found below instead.
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "postflow.urls"

# Where django-ninja lies, found without importing it (see INSTALLED_APPS): the API's docs page (Swagger
# UI) is its template and static files, served from here rather than from a CDN.
NINJA_DIR = Path(importlib.util.find_spec("ninja").origin).parent

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates", NINJA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "postflow.asgi.application"
WSGI_APPLICATION = "postflow.wsgi.application"

_database_url = env_secret_url(  # lower case: not a setting of its own (it may hold a password)
    "DATABASE_URL", f"sqlite:///{VAR_DIR / 'postflow.sqlite3'}", ("sqlite", "postgres", "postgresql", "pgsql"),
    "postgres://user:password@host:5432/postflow",
)  # fmt: skip
DATABASES = {"default": env.db_url_config(_database_url)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web process read while the worker and the watcher write.
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on
            # busy_timeout instead of failing with "database is locked" on lock upgrade.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env_number("SQLITE_TIMEOUT_SECONDS", 20, int),
        }
    )
    # Tests use a file too (not :memory:), so that threads and processes really contend; one
    # per test run, so that two runs on one machine do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
typed_variables["TIME_ZONE"] = "timezone"
try:
    import zoneinfo

    zoneinfo.ZoneInfo(TIME_ZONE)
except (ValueError, zoneinfo.ZoneInfoNotFoundError):
    raise SettingError("TIME_ZONE", TIME_ZONE, "a time zone name such as Europe/Paris or UTC") from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [NINJA_DIR / "static"]  # ninja/swagger-ui-bundle.js and the rest of the API's docs page
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Scale mode: REDIS_URL set -> the channel layer and the cache live in Redis, shared by every
# process on every machine. Jobs stay on the django-q2 ORM broker (the database): a job a worker
# took is leased, not popped, so one that dies with its worker is handed out again (docs/deploy.md).
REDIS_URL = env_secret_url("REDIS_URL", "", ("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0")
if REDIS_URL:
    # channels_redis waits for messages with a 5 s BZPOPMIN; redis-py 8 times every read out after
    # 5 s by default, which raced it and tore idle websockets down (channels_redis#422). A longer
    # read timeout keeps a dead Redis connection detected.
    _redis_channel_host = {"address": REDIS_URL, "socket_timeout": 30}
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [_redis_channel_host]}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

Q_CLUSTER = {
    "name": "postflow",
    "orm": "default",
    # One more than MAX_CONCURRENT_UPLOADS: long uploads never hold every worker, so webhooks,
    # notifications and the reconcilers keep running beside them.
    "workers": env_number("Q_WORKERS", 3, int),
    "timeout": env_number("Q_TIMEOUT_SECONDS", 3600, int),
    # Must exceed timeout: the ORM broker re-delivers a task whose lease ran out.
    "retry": env_number("Q_TIMEOUT_SECONDS", 3600, int) + 600,
    "catch_up": False,
}
# How long `manage.py qcluster` waits for its processes after SIGTERM before it kills them
# (postflow/management/commands/qcluster.py). A running upload stops within seconds, keeps its parts
# and gives its lease back; a job killed at this deadline is handed out again. Keep it below systemd's
# TimeoutStopSec and FRAMEIO_UPLOAD_LEASE_SECONDS (docs/deploy.md).
Q_STOP_SECONDS = env_number("Q_STOP_SECONDS", 30.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))},
    # Django's own "django" handler would bypass the console's redaction filters: go through the root.
    "loggers": {"django": {"handlers": [], "propagate": True}},
}
# Error pages and e-mails hide settings whose names say secret; also webhook and service URLs (a
# Discord webhook URL is a credential, a Redis or database URL may hold a password).
DEFAULT_EXCEPTION_REPORTER_FILTER = "postflow.lib.errors.SecretsReporterFilter"

# --- postflow -------------------------------------------------------------------------

POSTFLOW_PROJECT_CODE = env_str("POSTFLOW_PROJECT_CODE", "UNDLM")
POSTFLOW_PROJECT_NAME = env_str("POSTFLOW_PROJECT_NAME", "UNDLM Documentary")
POSTFLOW_FPS = env_str("POSTFLOW_FPS", "25")
typed_variables["POSTFLOW_FPS"] = "fps"
try:
    parse_fps(POSTFLOW_FPS)
except ValueError:
    raise SettingError("POSTFLOW_FPS", POSTFLOW_FPS, "a timecode frame rate such as 25, 24, 23.976 or 29.97") from None
# What a shot's nomenclature must look like; a row that does not match is invalid.
POSTFLOW_NOMENCLATURE_REGEX = env_str("POSTFLOW_NOMENCLATURE_REGEX", r"^[A-Z][A-Z0-9]*_(SEQ\d{2,3}_)?\d{3,6}$")
typed_variables["POSTFLOW_NOMENCLATURE_REGEX"] = "regex"
try:
    re.compile(POSTFLOW_NOMENCLATURE_REGEX)
except re.error as _exc:
    raise SettingError(
        "POSTFLOW_NOMENCLATURE_REGEX", POSTFLOW_NOMENCLATURE_REGEX, f"a regular expression ({_exc})"
    ) from None


# --- the render watcher (manage.py watch) ----------------------------------------------

# The LucidLink mount (or any folder) the watcher scans for renders.
LUCIDLINK_MOUNT_PATH = env_path("LUCIDLINK_MOUNT_PATH", VAR_DIR / "lucidlink")
# Seconds between scans; a full walk (the reconciliation) every POSTFLOW_FULL_SCAN_SECONDS.
POSTFLOW_SCAN_INTERVAL_SECONDS = env_number("POSTFLOW_SCAN_INTERVAL_SECONDS", 10.0)
POSTFLOW_FULL_SCAN_SECONDS = env_number("POSTFLOW_FULL_SCAN_SECONDS", 300.0)
# A render is complete once its size (> 0) and mtime stayed the same this long (LucidLink: 60).
POSTFLOW_SETTLE_SECONDS = env_number("POSTFLOW_SETTLE_SECONDS", 60.0)
# A render still 0 bytes this long after it appeared raises an alert (alerts app): a LucidLink placeholder
# whose data never came, or an empty file.
POSTFLOW_EMPTY_ALERT_MINUTES = env_number("POSTFLOW_EMPTY_ALERT_MINUTES", 30.0)
# Wake the scan loop on inotify events too: only useful on local disks, never on LucidLink.
POSTFLOW_INOTIFY = env_bool("POSTFLOW_INOTIFY", default=False)
# Render file names, tried in order; placeholders {project} {scene} {shot} {version}.
POSTFLOW_NAMING_TEMPLATES = env_list(
    "POSTFLOW_NAMING_TEMPLATES", ["{project}_SEQ{scene}_{shot}_v{version}", "{project}_{shot}_v{version}"]
)
# Only these extensions are renders; everything else under the root is ignored.
POSTFLOW_RENDER_EXTENSIONS = [
    e.lower().lstrip(".") for e in env_list("POSTFLOW_RENDER_EXTENSIONS", ["mov", "mp4", "mxf", "m4v"])
]
# Numbered frames with these extensions (name.1001.exr, name_0001.png) are image sequences: one render each.
POSTFLOW_SEQUENCE_EXTENSIONS = [
    e.lower().lstrip(".")
    for e in env_list("POSTFLOW_SEQUENCE_EXTENSIONS", ["exr", "dpx", "png", "tif", "tiff", "jpg", "jpeg"])
]
# How far a render's length may differ from its shot's duration, in frames.
POSTFLOW_DURATION_TOLERANCE_FRAMES = env_number("POSTFLOW_DURATION_TOLERANCE_FRAMES", 2, int)
# What a verified render means, by folder: "glob=action" pairs, first match wins. action is
# "review" (upload for review), "ignore", or a shot status to move to (e.g. ae_completed). A render
# of a folder that completes a stage is, while it is written, evidence that the stage is in progress.
# The defaults fit both the shot tree (`shot_tree`: <shot>/ae, <shot>/ebsynth/out) and a flat
# renders/ae/ folder.
POSTFLOW_STAGE_RULES = env_list(
    "POSTFLOW_STAGE_RULES", ["*/ae/*=ae_completed", "*/ebsynth/out/*=ebsynth_completed", "*=review"]
)
# Files that are evidence of a shot's stage and never renders (ingest.evidence): "glob=status" pairs,
# first match wins. A shot behind catches up to that status; one further along is left alone.
POSTFLOW_EVIDENCE_RULES = env_list(
    "POSTFLOW_EVIDENCE_RULES",
    [
        "*/ae/*.aep=ae_in_progress",
        "*/ebsynth/keys/*.png=ebsynth_ready",
        "*/ebsynth/keys/*.jpg=ebsynth_ready",
        "*/ebsynth/keys/*.exr=ebsynth_ready",
    ],
)
# The folders `manage.py shot_tree` makes under the mount for each shot of a project whose own template
# (Project.folder_template, in the admin) is empty. One string (commas are its alternatives, not a list):
# placeholders {project} {scene} {scene_name} {nomenclature} {shot}, {a,b/c} alternatives; checked by
# ingest (ingest/checks.py).
POSTFLOW_SHOT_TREE_TEMPLATE = env_str(
    "POSTFLOW_SHOT_TREE_TEMPLATE", "{project}/SEQ{scene:02}/{nomenclature}/{ae,ebsynth/keys,ebsynth/out,renders}"
)
# `lucid pin --set` on render folders when this binary is on PATH (empty: never pin).
POSTFLOW_LUCID_BIN = env_str("POSTFLOW_LUCID_BIN", "lucid")
# Where the rushes (camera and archive clips) live, at any depth: `manage.py verify_sources` and
# the watcher look there for each shot's SOURCE_FILE. Inside the mount, the render watcher skips it.
POSTFLOW_RUSHES_PATH = env_path("POSTFLOW_RUSHES_PATH", LUCIDLINK_MOUNT_PATH / "rushes")
# Review proxies (ingest/proxies.py): which verified renders Frame.io gets as an H.264 proxy instead of
# as they are. A list of "sequence", "codec:<name>", "width><pixels>" or "height><pixels>" (any one
# matching asks for a proxy); the grammar is checked by ingest (ingest/checks.py).
POSTFLOW_PROXY_FOR = env_list("POSTFLOW_PROXY_FOR", ["sequence"])
# The widest a proxy is (the aspect is kept, both sides even); a narrower render keeps its width.
POSTFLOW_PROXY_WIDTH = env_number("POSTFLOW_PROXY_WIDTH", 1920, int)
# Where proxies are written: empty, a hidden `.postflow-proxies/` folder beside each render; else this
# folder (the render's folder below the mount is kept under it). The watcher never takes either for renders.
POSTFLOW_PROXY_PATH = str(env_path("POSTFLOW_PROXY_PATH", "/")) if env_str("POSTFLOW_PROXY_PATH", "") else ""

# Poster frames of verified renders (ingest/thumbnails.py): postflow's own folder, never the mount.
POSTFLOW_THUMBNAILS_PATH = env_path("POSTFLOW_THUMBNAILS_PATH", VAR_DIR / "thumbnails")


# --- delivery (manage.py deliver, delivery/) ---------------------------------------------------

# Where approved renders are delivered. The default, under var/, is made on first use; a configured path
# never is: a share that is not mounted fails the delivery instead of filling the mount point.
POSTFLOW_DELIVERY_PATH = env_path("POSTFLOW_DELIVERY_PATH", VAR_DIR / "delivery")
# Deliver a shot as soon as it reaches review_approved (a job per shot); off: `manage.py deliver` does it.
POSTFLOW_AUTO_DELIVER = env_bool("POSTFLOW_AUTO_DELIVER", default=False)
# Each delivered file's path under POSTFLOW_DELIVERY_PATH: placeholders {project} {scene} (two digits)
# {scene_name} {nomenclature} {shot} {version} (three digits) {ext}; a sequence's frame number goes before
# the extension. Checked by delivery (delivery/checks.py).
POSTFLOW_DELIVERY_TEMPLATE = env_str(
    "POSTFLOW_DELIVERY_TEMPLATE", "{project}/{scene}/{nomenclature}/{nomenclature}_v{version}.{ext}"
)


# --- live dashboard -----------------------------------------------------------------

# Live events (postflow.realtime) are kept this long for browsers that reconnect, then pruned.
POSTFLOW_LIVE_EVENT_RETENTION_HOURS = env_number("POSTFLOW_LIVE_EVENT_RETENTION_HOURS", 24.0)
# How often each web process polls the event table for new rows (embedded mode).
POSTFLOW_LIVE_POLL_SECONDS = env_number("POSTFLOW_LIVE_POLL_SECONDS", 0.2)
# Relay the event table to the sockets (needed with the in-memory channel layer, which cannot cross
# processes); false: every process sends to the channel layer itself (Redis).
POSTFLOW_LIVE_RELAY = env_bool(
    "POSTFLOW_LIVE_RELAY", default=CHANNEL_LAYERS["default"]["BACKEND"].endswith("InMemoryChannelLayer")
)

# --- Google Sheets sync ---
# (sheets app, docs/sheets.md) Two-way sync of the shot list with a Google Sheet, every 5 minutes
# (django-q2 schedule) and on demand (`manage.py sheets_sync`). Off while either of the first two is empty.

# The service account's JSON key file; share the spreadsheet with the account's e-mail (Editor).
GOOGLE_SERVICE_ACCOUNT_FILE = env_str("GOOGLE_SERVICE_ACCOUNT_FILE", "")
# The spreadsheet's id, from its URL: https://docs.google.com/spreadsheets/d/<id>/edit
GOOGLE_SHEET_ID = env_str("GOOGLE_SHEET_ID", "")
# The worksheet (tab) holding the shot list; empty: the first one.
GOOGLE_SHEET_WORKSHEET = env_str("GOOGLE_SHEET_WORKSHEET", "")
# Read timeout of every Sheets and token call, in seconds.
GOOGLE_SHEETS_TIMEOUT_SECONDS = env_number("GOOGLE_SHEETS_TIMEOUT_SECONDS", 30.0)
# Tries of one Sheets call on 429 (quota) and 5xx, backing off with full jitter (Retry-After honoured).
GOOGLE_SHEETS_MAX_ATTEMPTS = env_number("GOOGLE_SHEETS_MAX_ATTEMPTS", 6, int)


def _google_sheet_columns() -> dict[str, str]:
    """The JSON object; its field names are checked by sheets (sheets/checks.py)."""
    import json

    typed_variables["GOOGLE_SHEET_COLUMNS"] = "json"
    raw = env_str("GOOGLE_SHEET_COLUMNS", "{}")
    try:
        columns = json.loads(raw)
    except json.JSONDecodeError:
        columns = None
    if not isinstance(columns, dict) or not all(isinstance(v, str) and v.strip() for v in columns.values()):
        expected = 'a JSON object of non-empty headers like {"status": "État VFX"}'
        raise SettingError("GOOGLE_SHEET_COLUMNS", raw, expected)
    return {name: header.strip() for name, header in columns.items()}


# Headers the aliases do not know, as JSON {"field": "Header"}; fields: the importer's and status, stage,
# version, frameio, last_note.
GOOGLE_SHEET_COLUMNS = _google_sheet_columns()
# --- end Google Sheets sync ---

# --- Frame.io -------------------------------------------------------------------------


def _frameio_url(name: str, default: str) -> str:
    from urllib.parse import urlsplit

    typed_variables[name] = "url"
    value = env_str(name, default).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise SettingError(name, value, "an http(s) URL without query string, such as https://api.frame.io")
    if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SettingError(name, value, "an https URL (plain http only for a loopback sandbox)")
    return value


# oauth: a person connects an Adobe "OAuth Web App" credential on /frameio/connect/; s2s: Server-to-Server
# (client credentials, for accounts administered in the Adobe Admin Console). Default: oauth with real
# credentials; s2s with none (the sandbox), so that `make run` uploads without anyone signing in.
FRAMEIO_AUTH = env_choice("FRAMEIO_AUTH", "oauth" if env_str("FRAMEIO_CLIENT_ID", "") else "s2s", ("oauth", "s2s"))
# The Adobe Developer Console credential. Empty: postflow talks to the local Frame.io sandbox.
FRAMEIO_CLIENT_ID = env_str("FRAMEIO_CLIENT_ID", "")
FRAMEIO_CLIENT_SECRET = env_str("FRAMEIO_CLIENT_SECRET", "")
# The OAuth callback registered on the credential (https, e.g. https://post.example.com/frameio/callback/).
# Empty: built from the request that starts the connection (fine for the sandbox and local use).
FRAMEIO_REDIRECT_URI = env_str("FRAMEIO_REDIRECT_URI", "")
if FRAMEIO_REDIRECT_URI:
    _frameio_url("FRAMEIO_REDIRECT_URI", FRAMEIO_REDIRECT_URI)
# Space-separated IMS scopes; offline_access is what yields a refresh token (oauth).
FRAMEIO_SCOPES = env_str(
    "FRAMEIO_SCOPES",
    (
        "openid email profile offline_access additional_info.roles"
        if FRAMEIO_AUTH == "oauth"
        else "openid AdobeID frame.s2s.all"
    ),
).replace(",", " ")
FRAMEIO_SCOPES = " ".join(FRAMEIO_SCOPES.split())
if not FRAMEIO_SCOPES:
    raise ImproperlyConfigured("FRAMEIO_SCOPES must not be empty")
# The Frame.io API and Adobe IMS hosts (the real ones unless in sandbox mode).
FRAMEIO_API_URL = _frameio_url("FRAMEIO_API_URL", "https://api.frame.io")
FRAMEIO_IMS_URL = _frameio_url("FRAMEIO_IMS_URL", "https://ims-na1.adobelogin.com")
# Use the local Frame.io + IMS emulator; defaults to true when no FRAMEIO_CLIENT_ID is set.
FRAMEIO_SANDBOX = env_bool("FRAMEIO_SANDBOX", default=not FRAMEIO_CLIENT_ID)
# The path under which the web process serves the embedded sandbox (postflow/asgi.py).
FRAMEIO_SANDBOX_PREFIX = "/frameio-sandbox"
# The sandbox's base URL; it serves both /v4 and /ims. Default: embedded in the web process started by
# `make run` (port POSTFLOW_PORT, as the Procfile), so the worker and the commands reach it there too.
# For a standalone sandbox (`manage.py frameio_sandbox --port 8001`) set http://127.0.0.1:8001.
FRAMEIO_SANDBOX_URL = _frameio_url(
    "FRAMEIO_SANDBOX_URL", f"http://127.0.0.1:{env_number('POSTFLOW_PORT', 8000, int)}{FRAMEIO_SANDBOX_PREFIX}"
)
# The web process serves the sandbox when in sandbox mode and FRAMEIO_SANDBOX_URL's path is the prefix.
FRAMEIO_SANDBOX_EMBEDDED = FRAMEIO_SANDBOX and FRAMEIO_SANDBOX_URL.split("/", 3)[3:] == [FRAMEIO_SANDBOX_PREFIX[1:]]
if FRAMEIO_SANDBOX_EMBEDDED:
    # The embedded sandbox answers anyone who reaches the web process as a local client, with a
    # public credential: it must never run where the web process faces a network.
    _public_hosts = [h for h in ALLOWED_HOSTS if h not in ("127.0.0.1", "localhost", "[::1]", "::1")]
    if FRAMEIO_CLIENT_ID or POSTFLOW_HTTPS or _public_hosts:
        raise ImproperlyConfigured(
            "FRAMEIO_SANDBOX: the embedded sandbox is for local use only, but "
            + ("Frame.io credentials are set" if FRAMEIO_CLIENT_ID else f"ALLOWED_HOSTS has {_public_hosts or 'HTTPS'}")
            + "; set FRAMEIO_SANDBOX=false (and real credentials), or run a standalone sandbox"
        )
if FRAMEIO_SANDBOX:
    FRAMEIO_API_URL = FRAMEIO_IMS_URL = FRAMEIO_SANDBOX_URL
    # The sandbox's built-in credential (not a secret: it only opens the local emulator).
    FRAMEIO_CLIENT_ID = "postflow-sandbox"
    FRAMEIO_CLIENT_SECRET = "postflow-sandbox-secret"  # noqa: S105
elif not FRAMEIO_CLIENT_ID:
    raise ImproperlyConfigured("FRAMEIO_CLIENT_ID is required when FRAMEIO_SANDBOX is false")
elif not FRAMEIO_CLIENT_SECRET:
    raise ImproperlyConfigured("FRAMEIO_CLIENT_SECRET is required when FRAMEIO_CLIENT_ID is set")
# The account, workspace and project to use; empty ones are chosen on /frameio/connect/.
FRAMEIO_ACCOUNT_ID = env_str("FRAMEIO_ACCOUNT_ID", "")
FRAMEIO_WORKSPACE_ID = env_str("FRAMEIO_WORKSPACE_ID", "")
FRAMEIO_DEFAULT_PROJECT_ID = env_str("FRAMEIO_DEFAULT_PROJECT_ID", "")
# Fernet key(s) for the stored tokens (comma-separated: the first encrypts, all decrypt, for rotation).
# Empty: a key derived from SECRET_KEY with HKDF-SHA256 (changing SECRET_KEY then means reconnecting).
FRAMEIO_TOKEN_KEY = env_str("FRAMEIO_TOKEN_KEY", "")
typed_variables["FRAMEIO_TOKEN_KEY"] = "fernet"  # noqa: S105 (a kind, not a key)
if FRAMEIO_TOKEN_KEY:
    from cryptography.fernet import Fernet

    try:
        for _key in FRAMEIO_TOKEN_KEY.split(","):
            Fernet(_key.strip())
    except ValueError:
        raise SettingError(
            "FRAMEIO_TOKEN_KEY",
            FRAMEIO_TOKEN_KEY,
            "comma-separated Fernet keys (32 url-safe base64-encoded bytes; python -c "
            '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")',
            secret=True,
        ) from None
# Read timeout of every Frame.io and IMS call, in seconds.
FRAMEIO_TIMEOUT_SECONDS = env_number("FRAMEIO_TIMEOUT_SECONDS", 30.0, expected="a number of seconds")
# The OAuth libraries log request bodies (tokens) at DEBUG (requests-oauthlib#536): keep them quieter.
LOGGING.setdefault("loggers", {}).update({"requests_oauthlib": {"level": "WARNING"}, "oauthlib": {"level": "WARNING"}})

# --- alerts and notifications ---
# (alerts app, docs/alerts.md) Thresholds of the alert rules, evaluated every minute by the worker and on demand
# by `manage.py alerts_check`; Discord and e-mail notifications sent from an outbox.

# Measurements (Frame.io calls, uploads, scans, processes, queue) are kept this long, then pruned.
ALERTS_METRIC_RETENTION_DAYS = env_number("ALERTS_METRIC_RETENTION_DAYS", 14.0)
# An alert opened within this long of the previous notification for the same key is shown, not sent again.
ALERT_COOLDOWN_MINUTES = env_number("ALERT_COOLDOWN_MINUTES", 30.0)
# Frame.io API: error rate (%) and 90th-percentile latency (s) over the window, once it saw enough calls.
ALERT_API_WINDOW_MINUTES = env_number("ALERT_API_WINDOW_MINUTES", 15.0)
ALERT_API_MIN_CALLS = env_number("ALERT_API_MIN_CALLS", 20, int)
ALERT_API_ERROR_RATE = env_number("ALERT_API_ERROR_RATE", 5.0)
ALERT_API_LATENCY_SECONDS = env_number("ALERT_API_LATENCY_SECONDS", 5.0)
# Uploads: failure rate (%) of the uploads that finished (uploaded or failed) within the window.
ALERT_UPLOAD_WINDOW_HOURS = env_number("ALERT_UPLOAD_WINDOW_HOURS", 6.0)
ALERT_UPLOAD_MIN_FINISHED = env_number("ALERT_UPLOAD_MIN_FINISHED", 5, int)
ALERT_UPLOAD_FAILURE_RATE = env_number("ALERT_UPLOAD_FAILURE_RATE", 10.0)
# A leased upload with no part landed and no state change for this long is stuck.
ALERT_UPLOAD_STUCK_MINUTES = env_number("ALERT_UPLOAD_STUCK_MINUTES", 15.0)
# Resident memory of one postflow process (MB).
ALERT_PROCESS_MEMORY_MB = env_number("ALERT_PROCESS_MEMORY_MB", 500.0)
# A watcher that has not beaten for this long is missing.
ALERT_HEARTBEAT_MINUTES = env_number("ALERT_HEARTBEAT_MINUTES", 2.0)
# Shots sitting in one of these statuses longer than this many days (statuses checked by alerts/checks.py).
ALERT_SHOT_STALE_DAYS = env_number("ALERT_SHOT_STALE_DAYS", 7.0)
ALERT_SHOT_STALE_STATUSES = env_list(
    "ALERT_SHOT_STALE_STATUSES", ["ae_in_progress", "ebsynth_in_progress", "review_uploaded", "revision_requested"]
)

# Adobe IMS refresh tokens live 14 days: warn when the stored one is older than this.
ALERT_REFRESH_TOKEN_DAYS = env_number("ALERT_REFRESH_TOKEN_DAYS", 12.0)
# Frame.io webhook deliveries that failed within the window.
ALERT_WEBHOOK_WINDOW_MINUTES = env_number("ALERT_WEBHOOK_WINDOW_MINUTES", 60.0)
ALERT_WEBHOOK_FAILURES = env_number("ALERT_WEBHOOK_FAILURES", 1, int)
# Renders newly quarantined within the window.
ALERT_QUARANTINE_WINDOW_MINUTES = env_number("ALERT_QUARANTINE_WINDOW_MINUTES", 60.0)
ALERT_QUARANTINE_GROWTH = env_number("ALERT_QUARANTINE_GROWTH", 3, int)
# Alerts by e-mail (Django's mail backend, EMAIL_URL): the recipients; empty: no e-mail.
ALERT_EMAILS = env_list("ALERT_EMAILS", [])
ALERT_EMAIL_FROM = env_str("ALERT_EMAIL_FROM", "postflow@localhost")
typed_variables["EMAIL_URL"] = "secret_url"
try:  # smtp://user:password@host:587 (+tls), consolemail://, ... (django-environ); the URL is a secret
    globals().update(env.email_url_config(env_str("EMAIL_URL", "smtp://localhost:25")))
except Exception:
    raise SettingError("EMAIL_URL", "", "an e-mail URL such as smtp://user:password@host:587", secret=True) from None


def _discord_url(name: str) -> str:
    """A Discord webhook URL, or empty. The value is a secret: an error never repeats it."""
    from urllib.parse import urlsplit

    typed_variables[name] = "discord_url"
    value = env_str(name, "")
    if not value:
        return ""
    parts = urlsplit(value)
    discord = parts.scheme == "https" and (parts.hostname or "").removeprefix("ptb.").removeprefix("canary.") in (
        "discord.com",
        "discordapp.com",
    )
    loopback = parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not (discord or loopback) or not parts.path.startswith("/api/webhooks/") or parts.query:
        raise SettingError(name, value, "a Discord webhook URL: https://discord.com/api/webhooks/ID/TOKEN", secret=True)
    return value


# Discord through channel webhooks: on/off, then per kind of message its switch and its webhook (empty: the default).
ENABLE_DISCORD_NOTIFICATIONS = env_bool("ENABLE_DISCORD_NOTIFICATIONS", default=True)
DISCORD_WEBHOOK_URL = _discord_url("DISCORD_WEBHOOK_URL")
DISCORD_KINDS = ("renders", "reviews", "alerts", "digest", "deliveries")
DISCORD_NOTIFY = {kind: env_bool(f"DISCORD_NOTIFY_{kind.upper()}", default=True) for kind in DISCORD_KINDS}
DISCORD_WEBHOOK_URLS = {kind: _discord_url(f"DISCORD_WEBHOOK_URL_{kind.upper()}") for kind in DISCORD_KINDS}
# The digests (`manage.py postflow_digest`, alerts/digest.py): the day's at this hour (TIME_ZONE), the week's at
# this hour on this weekday; off: no schedule (the command still prints and sends on demand). ALERTS_DIGEST_HOUR
# is the hour's former name, still read when the new one is unset.
POSTFLOW_DIGEST_ENABLED = env_bool("POSTFLOW_DIGEST_ENABLED", default=True)
POSTFLOW_DIGEST_DAILY_HOUR = env_number(
    "POSTFLOW_DIGEST_DAILY_HOUR", env_number("ALERTS_DIGEST_HOUR", 9, int), int, expected="an hour from 0 to 23"
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
POSTFLOW_DIGEST_WEEKDAY = env_choice("POSTFLOW_DIGEST_WEEKDAY", "mon", WEEKDAYS)
# Webhook URLs and presigned URLs must never reach a log line: urllib3 prints request lines at DEBUG, and a
# filter on the console handler blanks any Discord webhook URL that still gets through.
LOGGING.setdefault("loggers", {})["urllib3"] = {"level": "WARNING"}
LOGGING.setdefault("filters", {})["redact_discord"] = {"()": "postflow.lib.redaction.RedactDiscordWebhooks"}
LOGGING["handlers"]["console"].setdefault("filters", []).append("redact_discord")

# --- uploads to Frame.io -----------------------------------------------------------------

# Files uploading at once across all workers, and parts in flight per file.
MAX_CONCURRENT_UPLOADS = env_number("MAX_CONCURRENT_UPLOADS", 2, int)
# Parts in flight in a process, across its uploads: 0 (the default) finds it (frameio/uploads/concurrency.py)
# within FRAMEIO_PART_CONCURRENCY_MAX; a number pins it. Each part in flight holds a 1 MiB buffer and a
# thread: 64 is ~70 MB at most, reached on a long path whose connections are each capped (there, parts
# beyond the knee shorten an upload's tail; on loopback the controller stays near 8).
FRAMEIO_PART_CONCURRENCY = env_number("FRAMEIO_PART_CONCURRENCY", 0, int)
FRAMEIO_PART_CONCURRENCY_MAX = env_number("FRAMEIO_PART_CONCURRENCY_MAX", 64, int)
# push: postflow PUTs the parts to Frame.io's S3; pull: Frame.io fetches the render from a signed URL
# under POSTFLOW_PUBLIC_URL (an inbound tunnel such as cloudflared), valid FRAMEIO_PULL_URL_TTL seconds.
FRAMEIO_UPLOAD_MODE = env_choice("FRAMEIO_UPLOAD_MODE", "push", ("push", "pull"))
FRAMEIO_PULL_URL_TTL = env_number("FRAMEIO_PULL_URL_TTL", 6 * 3600.0)
# Tries of one part PUT (connection errors, 5xx) before the attempt fails.
FRAMEIO_PART_RETRIES = env_number("FRAMEIO_PART_RETRIES", 5, int)
# Parts that landed are recorded (the resume point) in one transaction at most this many seconds after
# they land, rather than one commit per part: a crash re-sends at most the parts of the last interval.
FRAMEIO_PART_RECORD_SECONDS = env_number("FRAMEIO_PART_RECORD_SECONDS", 0.5)
# Attempts of a whole upload before it is marked failed (producers retry it from the admin).
FRAMEIO_UPLOAD_MAX_ATTEMPTS = env_number("FRAMEIO_UPLOAD_MAX_ATTEMPTS", 5, int)
# How long Frame.io may take to say upload_complete after the last part, in seconds.
FRAMEIO_UPLOAD_COMPLETE_TIMEOUT = env_number("FRAMEIO_UPLOAD_COMPLETE_TIMEOUT", 600.0)
# A worker's claim on an upload lasts this long unless renewed (every quarter of it): after a
# crash (kill -9), another worker takes the upload over once the lease ran out.
FRAMEIO_UPLOAD_LEASE_SECONDS = env_number("FRAMEIO_UPLOAD_LEASE_SECONDS", 120.0)
# The option of Frame.io's "Status" field a new render gets.
FRAMEIO_STATUS_NEEDS_REVIEW = env_str("FRAMEIO_STATUS_NEEDS_REVIEW", "Needs Review")

# --- review from Frame.io ---


def _status_map(pairs: list[str]) -> dict[str, str]:
    """Pairs like 'Approved=review_approved' -> {"Approved": "review_approved"}; that each status exists is
    checked by frameio (frameio/checks.py)."""
    typed_variables["FRAMEIO_STATUS_MAP"] = "pairs"
    mapping = {}
    for pair in pairs:
        name, sep, status = pair.partition("=")
        if not sep or not name.strip() or not status.strip():
            raise SettingError("FRAMEIO_STATUS_MAP", pair, "'Frame.io option=shot status' pairs, comma-separated")
        mapping[name.strip()] = status.strip()
    return mapping


# The URL Frame.io posts review events to (https, ending in /frameio/webhook/). The admin action registers
# it; empty: the address the admin is reached at. `manage.py frameio_webhook register --url` takes its own.
FRAMEIO_WEBHOOK_URL = env_str("FRAMEIO_WEBHOOK_URL", "")
# The address postflow is reached at from outside (https://post.example.com): `frameio_webhook register`
# without --url, and `frameio_health`, use POSTFLOW_PUBLIC_URL/frameio/webhook/ when FRAMEIO_WEBHOOK_URL is empty.
POSTFLOW_PUBLIC_URL = env_str("POSTFLOW_PUBLIC_URL", "")
if POSTFLOW_PUBLIC_URL:
    POSTFLOW_PUBLIC_URL = _frameio_url("POSTFLOW_PUBLIC_URL", POSTFLOW_PUBLIC_URL)
# Options of Frame.io's "Status" field that move a shot, and where to: "Option=shot_status" pairs.
FRAMEIO_STATUS_MAP = _status_map(
    env_list("FRAMEIO_STATUS_MAP", ["Approved=review_approved", "Needs Changes=revision_requested"])
)
# Files the review reconciliation polls per run (every 5 minutes), comments and Status, least recent first.
FRAMEIO_REVIEW_RECONCILE_BATCH = env_number("FRAMEIO_REVIEW_RECONCILE_BATCH", 50, int)

# --- REST API ---
# (api app, docs/api.md) Requests per token: "N/s", "N/min" or "N/hour"; over it, 429 with Retry-After.
POSTFLOW_API_THROTTLE_RATE = env_str("POSTFLOW_API_THROTTLE_RATE", "600/min")
# Shots per page of GET /api/v1/shots by default, and the most a client may ask for (page_size).
POSTFLOW_API_PAGE_SIZE = env_number("POSTFLOW_API_PAGE_SIZE", 50, int)
POSTFLOW_API_MAX_PAGE_SIZE = env_number("POSTFLOW_API_MAX_PAGE_SIZE", 200, int)
# Outgoing webhooks (configured in the admin): read timeout of one POST, tries of one message (backoff from
# 30 s to 1 h), and failed attempts in a row after which an endpoint is disabled with an alert.
POSTFLOW_API_WEBHOOK_TIMEOUT_SECONDS = env_number("POSTFLOW_API_WEBHOOK_TIMEOUT_SECONDS", 10.0)
POSTFLOW_API_WEBHOOK_MAX_ATTEMPTS = env_number("POSTFLOW_API_WEBHOOK_MAX_ATTEMPTS", 8, int)
POSTFLOW_API_WEBHOOK_DISABLE_AFTER = env_number("POSTFLOW_API_WEBHOOK_DISABLE_AFTER", 10, int)
# --- end REST API ---
