"""postflow settings, read from the environment (django-environ).

Every variable is documented in `.env.example`. A bad value fails at start with
ImproperlyConfigured naming the variable. Unset, everything falls back to the embedded
default: SQLite (WAL) under var/, no Redis, the Frame.io sandbox.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from postflow.lib.secret_key import load_or_create_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("POSTFLOW_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# Unset, a random key is generated once and kept in var/secret_key (mode 0600), so a fresh
# checkout works without anyone inventing a key, and sessions survive restarts.
SECRET_KEY = env.str("SECRET_KEY", default="") or load_or_create_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_q",
    "postflow",
    "shots",
    "ingest",
    "frameio",
    "alerts",
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

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'postflow.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web process read while the worker and the watcher write.
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on
            # busy_timeout instead of failing with "database is locked" on lock upgrade.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_TIMEOUT_SECONDS", default=20),
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
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "postflow" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

Q_CLUSTER = {
    "name": "postflow",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT_SECONDS", default=3600),
    # Must exceed timeout: the ORM broker re-delivers a task whose lease ran out.
    "retry": env.int("Q_TIMEOUT_SECONDS", default=3600) + 600,
    "catch_up": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- postflow -------------------------------------------------------------------------

POSTFLOW_PROJECT_CODE = env.str("POSTFLOW_PROJECT_CODE", default="UNDLM")
POSTFLOW_PROJECT_NAME = env.str("POSTFLOW_PROJECT_NAME", default="UNDLM Documentary")
POSTFLOW_FPS = env.str("POSTFLOW_FPS", default="25")
# What a shot's nomenclature must look like; a row that does not match is invalid.
POSTFLOW_NOMENCLATURE_REGEX = env.str("POSTFLOW_NOMENCLATURE_REGEX", default=r"^[A-Z][A-Z0-9]*_(SEQ\d{2,3}_)?\d{3,6}$")


def _check_postflow_settings() -> None:
    import re

    from postflow.lib.timecode import parse_fps

    try:
        parse_fps(POSTFLOW_FPS)
    except ValueError as exc:
        raise ImproperlyConfigured(f"POSTFLOW_FPS: {exc}") from None
    try:
        re.compile(POSTFLOW_NOMENCLATURE_REGEX)
    except re.error as exc:
        raise ImproperlyConfigured(f"POSTFLOW_NOMENCLATURE_REGEX is not a valid regex: {exc}") from None


_check_postflow_settings()
