"""The alerts settings fail at start, naming the variable and never repeating a webhook URL."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(tmp_path, **env) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "POSTFLOW_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "postflow.settings",
        **env,
    }
    # As a command starts: the settings, then the system checks (the statuses are alerts/checks.py's).
    code = (
        "import django; django.setup(); from django.core.management import call_command; call_command('check'); "
        "from django.conf import settings as s; print(s.DISCORD_WEBHOOK_URLS)"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DISCORD_WEBHOOK_URL", "https://evil.example.com/api/webhooks/1/SECRET-TOKEN"),
        ("DISCORD_WEBHOOK_URL_ALERTS", "http://discord.com/api/webhooks/1/SECRET-TOKEN"),
        ("DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/SECRET-TOKEN?thread_id=2"),
    ],
)
def test_a_bad_webhook_url_stops_the_start_without_showing_it(tmp_path, name, value):
    result = start(tmp_path, **{name: value})
    assert result.returncode != 0
    assert f"{name}=<hidden> is not valid: expected a Discord webhook URL" in result.stderr
    assert "SECRET-TOKEN" not in result.stderr


def test_good_values_and_bad_thresholds(tmp_path):
    ok = start(tmp_path, DISCORD_WEBHOOK_URL_DIGEST="https://discord.com/api/webhooks/1/tok")
    assert ok.returncode == 0 and "'digest': 'https://discord.com/api/webhooks/1/tok'" in ok.stdout
    bad = start(tmp_path, ALERT_SHOT_STALE_STATUSES="review_uploaded,reviewing")
    assert bad.returncode != 0 and "SystemCheckError" in bad.stderr
    assert "(alerts.E001) ALERT_SHOT_STALE_STATUSES: unknown status reviewing" in bad.stderr
    memory = start(tmp_path, ALERT_PROCESS_MEMORY_MB="lots").stderr
    assert "ALERT_PROCESS_MEMORY_MB='lots' is not valid: expected a number" in memory
    assert (
        "(postflow.E010) POSTFLOW_DIGEST_DAILY_HOUR=25 is out of range"
        in start(tmp_path, ALERTS_DIGEST_HOUR="25").stderr
    )


def test_the_empty_render_alert_needs_a_positive_delay(tmp_path):
    result = start(tmp_path, POSTFLOW_EMPTY_ALERT_MINUTES="0")
    assert result.returncode != 0
    expected = "(postflow.E013) POSTFLOW_EMPTY_ALERT_MINUTES=0 is out of range: expected more than 0 minutes"
    assert expected in result.stderr
