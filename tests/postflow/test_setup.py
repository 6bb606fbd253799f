import os
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from postflow.lib.secret_key import load_or_create_secret_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_ensure_admin_creates_one_account_and_shows_its_password_once():
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    password = next(line.split()[-1] for line in out.getvalue().splitlines() if "password:" in line)
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.check_password(password) and len(password) >= 16
    again = StringIO()
    call_command("ensure_admin", stdout=again)
    assert password not in again.getvalue()
    assert "exists already" in again.getvalue()
    assert get_user_model().objects.count() == 1


def test_secret_key_is_created_private_and_then_reused(tmp_path):
    path = tmp_path / "secret_key"
    key = load_or_create_secret_key(path)
    assert len(key) >= 50
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret_key(path) == key
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("POSTFLOW_FPS", "26", "POSTFLOW_FPS='26' is not valid: expected a timecode frame rate"),
        ("POSTFLOW_NOMENCLATURE_REGEX", "([", "POSTFLOW_NOMENCLATURE_REGEX='([' is not valid: expected a regular"),
        ("DEBUG", "maybe", "DEBUG='maybe' is not valid: expected true or false"),
        ("Q_WORKERS", "two", "Q_WORKERS='two' is not valid: expected a whole number"),
        # The shape is the settings'; what the values mean is the apps' system checks (tests/*/test_checks.py).
        ("FRAMEIO_STATUS_MAP", "Approved", "FRAMEIO_STATUS_MAP='Approved' is not valid: expected 'Frame.io option="),
        (
            "GOOGLE_SHEET_COLUMNS",
            '{"status": ""}',
            'GOOGLE_SHEET_COLUMNS=\'{"status": ""}\' is not valid: expected a JSON',
        ),
    ],
)
def test_bad_settings_fail_at_start_naming_the_variable(tmp_path, variable, value, message):
    env = {**os.environ, "POSTFLOW_VAR_DIR": str(tmp_path), variable: value}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_check_passes_on_the_embedded_default(tmp_path):
    env = {**os.environ, "POSTFLOW_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_web_process_refuses_to_start_when_a_system_check_fails(tmp_path):
    """daphne runs no system checks: postflow/asgi.py runs them, so a bad value never gets served."""
    env = {**os.environ, "POSTFLOW_VAR_DIR": str(tmp_path), "FRAMEIO_STATUS_MAP": "Approved=approved"}
    result = subprocess.run(
        [sys.executable, "-c", "import postflow.asgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "postflow: the system checks found 1 problem(s) in the settings" in result.stderr
    assert (
        "(frameio.E001) FRAMEIO_STATUS_MAP: 'Approved=approved' is not 'Frame.io option=shot status'" in result.stderr
    )


def test_env_example_as_is_gives_a_working_setup(tmp_path):
    """Copying .env.example to .env without filling anything in must start on the defaults."""
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value
    assert {"DATABASE_URL", "LUCIDLINK_MOUNT_PATH", "POSTFLOW_SETTLE_SECONDS", "FRAMEIO_CLIENT_ID"} <= values.keys()
    env = {**os.environ, **values, "POSTFLOW_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    """docs/deploy.md's environment passes `manage.py check --deploy` with no warning."""
    env = {
        **os.environ,
        "POSTFLOW_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "x" * 20 + "a-long-random-production-secret-key-0123456789",
        "ALLOWED_HOSTS": "post.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://post.example.com",
        "POSTFLOW_HTTPS": "true",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "FRAMEIO_CLIENT_ID": "client-id-from-the-adobe-console",
        "FRAMEIO_CLIENT_SECRET": "client-secret-from-the-adobe-console",
        "FRAMEIO_REDIRECT_URI": "https://post.example.com/frameio/callback/",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"ALLOWED_HOSTS": "post.example.com"}, "ALLOWED_HOSTS has ['post.example.com']"),
        ({"POSTFLOW_HTTPS": "true"}, "ALLOWED_HOSTS has HTTPS"),
        ({"FRAMEIO_SANDBOX": "true", "FRAMEIO_CLIENT_ID": "x", "FRAMEIO_CLIENT_SECRET": "y"}, "credentials are set"),
    ],
)
def test_the_embedded_sandbox_refuses_to_run_where_the_web_faces_a_network(tmp_path, extra, reason):
    clean = {key: value for key, value in os.environ.items() if not key.startswith("FRAMEIO_")}
    env = {**clean, "POSTFLOW_VAR_DIR": str(tmp_path), **extra}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "the embedded sandbox is for local use only" in result.stderr and reason in result.stderr


def test_error_reports_hide_webhook_and_service_urls(settings):
    from postflow.lib.errors import SecretsReporterFilter

    settings.DISCORD_WEBHOOK_URL = "https://discord.com/api/webhooks/1/very-secret-token"
    settings.REDIS_URL = "redis://:hunter2@redis.internal:6379/0"
    shown = SecretsReporterFilter().get_safe_settings()
    assert "very-secret-token" not in str(shown) and "hunter2" not in str(shown)
    assert shown["TIME_ZONE"] == settings.TIME_ZONE  # ordinary settings still shown


def test_error_reports_hide_secrets_held_in_any_frame(settings):
    """A token in a library's frame (oauthlib, requests) is not in the error e-mail either."""
    import sys

    from django.views.debug import ExceptionReporter
    from requests.structures import CaseInsensitiveDict

    settings.DEBUG = False

    def library_call(refresh_token, headers, url, shot_count):
        raise RuntimeError("IMS answered 500")

    secrets = ["rt-Zq81", "at-Zq82", "Zq83"]
    try:
        library_call(
            secrets[0],
            CaseInsensitiveDict({"Authorization": f"Bearer {secrets[1]}", "Accept": "application/json"}),
            f"https://s3.example/part?X-Amz-Signature={secrets[2]}",
            516,
        )
    except RuntimeError:
        # The HTML report (an error e-mail with include_html, or the debug page) lists every frame's locals.
        report = ExceptionReporter(None, *sys.exc_info(), is_email=True).get_traceback_html()
    assert [secret for secret in secrets if secret in report] == []
    assert "IMS answered 500" in report and "516" in report  # what helps debugging stays
