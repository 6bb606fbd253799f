"""A bad setting stops every entry point with one line and exit status 2 (issue #15, point 6); values of the
right type but out of range are system checks, all reported at once with their ids."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from postflow.checks import BOUNDS, check_setting_ranges
from postflow.lib.bad_setting import SettingError
from tests.processes import ROOT, child_env, manage

SETTINGS_PY = ROOT / "postflow" / "settings.py"

# A value of the wrong type for each kind of typed variable that postflow/settings.py reads.
BAD_VALUES = {
    "int": "two",
    "float": "lots",
    "bool": "maybe",
    "choice": "sometimes",
    "path": "relative/folder",
    "url": "ftp://api.frame.io",
    "secret_url": "nope://user:CANARY-secret@host/db",
    "discord_url": "https://evil.example.com/api/webhooks/1/CANARY-secret",
    "fernet": "CANARY-secret-not-a-key",
    "timezone": "Mars/Olympus_Mons",
    "fps": "abc",
    "regex": "([",
    "json": "{not json",
    "pairs": "Approved",
}
SECRET_KINDS = {"secret_url", "discord_url", "fernet"}


def _bad_start(env: dict, *args: str) -> subprocess.CompletedProcess:
    """A child process that must refuse to start; its result."""
    with pytest.raises(subprocess.CalledProcessError) as failed:
        manage(env, *args, timeout=60)
    return failed.value


def _one_line_exit_2(result, variable: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"postflow: {variable}=")
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "command", "expected"),
    [
        ("POSTFLOW_FPS", "abc", ("check",), "postflow: POSTFLOW_FPS='abc' is not valid: expected a timecode frame"),
        ("Q_WORKERS", "two", ("qcluster",), "Q_WORKERS='two' is not valid: expected a whole number such as 3"),
        ("DEBUG", "maybe", ("migrate", "--noinput"), "DEBUG='maybe' is not valid: expected true or false"),
        ("TIME_ZONE", "Paris", ("showmigrations",), "expected a time zone name such as Europe/Paris"),
        ("LUCIDLINK_MOUNT_PATH", "mnt/lucid", ("watch", "--oneshot"), "expected an absolute path"),
        ("POSTFLOW_DIGEST_WEEKDAY", "monday", ("postflow_digest",), "expected one of mon, tue, wed"),
    ],
)
def test_a_bad_value_stops_any_command_in_one_line(tmp_path, variable, value, command, expected):
    result = _bad_start(child_env(tmp_path, **{variable: value}), *command)
    assert expected in _one_line_exit_2(result, variable)


def test_a_secret_is_never_repeated(tmp_path):
    url = "https://evil.example.com/api/webhooks/1/CANARY-token"
    line = _one_line_exit_2(
        _bad_start(child_env(tmp_path, DISCORD_WEBHOOK_URL_ALERTS=url), "check"), "DISCORD_WEBHOOK_URL_ALERTS"
    )
    assert line.startswith("postflow: DISCORD_WEBHOOK_URL_ALERTS=<hidden> is not valid: expected a Discord webhook")
    assert "CANARY" not in line


@pytest.mark.parametrize("entry", ["daphne", "wsgi"])
def test_the_web_process_stops_in_one_line(tmp_path, entry):
    env = child_env(tmp_path, POSTFLOW_FPS="abc")
    if entry == "daphne":  # as the Procfile starts it
        argv = [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", "0", "postflow.asgi:application"]
    else:
        argv = [sys.executable, "-c", "import postflow.wsgi"]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "POSTFLOW_FPS='abc' is not valid" in _one_line_exit_2(result, "POSTFLOW_FPS")


def test_the_web_process_lists_every_failed_check_and_exits_2(tmp_path):
    env = child_env(tmp_path, POSTFLOW_SCAN_INTERVAL_SECONDS="0", FRAMEIO_STATUS_MAP="Approved=approved")
    (tmp_path / "var" / "static").mkdir(parents=True)  # whitenoise warns without it (collectstatic makes it)
    result = subprocess.run(
        [sys.executable, "-c", "import postflow.asgi"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith("postflow: the system checks found 2 problem(s)")
    # One line per problem, in the order the apps registered their checks (not part of the contract).
    problems = sorted(lines[1:])
    assert "(frameio.E001) FRAMEIO_STATUS_MAP: 'Approved=approved'" in problems[0]
    expected = "(postflow.E001) POSTFLOW_SCAN_INTERVAL_SECONDS=0 is out of range: expected more than 0 seconds"
    assert expected in problems[1]


def test_check_and_check_deploy_report_every_range_problem_at_once(tmp_path):
    env = child_env(
        tmp_path, POSTFLOW_SCAN_INTERVAL_SECONDS="0", MAX_CONCURRENT_UPLOADS="0", POSTFLOW_DIGEST_DAILY_HOUR="24"
    )
    for args in (("check",), ("check", "--deploy")):
        result = _bad_start(env, *args)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        for expected in (
            "(postflow.E001) POSTFLOW_SCAN_INTERVAL_SECONDS=0 is out of range: expected more than 0 seconds",
            "(postflow.E006) MAX_CONCURRENT_UPLOADS=0 is out of range: expected at least 1",
            "(postflow.E010) POSTFLOW_DIGEST_DAILY_HOUR=24 is out of range: expected an hour from 0 to 23",
        ):
            assert expected in result.stderr


# --- every typed variable, in process ------------------------------------------------------------------------

# Variables read only in some configurations (HTTPS, a redirect URI): the base turns them on; the sandbox
# stands alone (not embedded), so that HTTPS is allowed.
BASE_ENV = {
    "POSTFLOW_HTTPS": "true",
    "FRAMEIO_SANDBOX_URL": "http://127.0.0.1:8001",
    "FRAMEIO_REDIRECT_URI": "https://post.example.com/frameio/callback/",
}


def _load_settings(monkeypatch, **env: str) -> dict:
    for name in [n for n in os.environ if n in BASE_ENV or n.startswith(("POSTFLOW_", "FRAMEIO_", "DISCORD_"))]:
        if name != "POSTFLOW_VAR_DIR":
            monkeypatch.delenv(name)
    for name, value in {**BASE_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS_PY))


def _typed_variables() -> dict[str, str]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _load_settings(monkeypatch)["typed_variables"]


TYPED = _typed_variables()


def test_every_kind_of_typed_variable_has_a_bad_value_here():
    assert set(TYPED.values()) <= BAD_VALUES.keys()
    assert len(TYPED) > 70  # the registry sees them all, including conditional ones (HSTS, the redirect URI)
    assert {"SECURE_HSTS_SECONDS", "FRAMEIO_REDIRECT_URI", "DISCORD_NOTIFY_DIGEST", "DATABASE_URL"} <= TYPED.keys()


@pytest.mark.parametrize(("variable", "kind"), sorted(TYPED.items()))
def test_a_bad_value_of_any_typed_variable_names_it(monkeypatch, variable, kind):
    with pytest.raises(SettingError) as error:
        _load_settings(monkeypatch, **{variable: BAD_VALUES[kind]})
    message = str(error.value)
    assert error.value.name == variable and message.startswith(f"{variable}=")
    assert " is not valid: expected " in message and "\n" not in message
    if kind in SECRET_KINDS:
        assert "CANARY" not in message and message.startswith(f"{variable}=<hidden>")
    else:
        assert repr(BAD_VALUES[kind]) in message or kind == "pairs"


# --- range checks ----------------------------------------------------------------------------------------------


def test_every_range_check_names_the_variable_its_value_and_its_id(settings):
    settings.POSTFLOW_SETTLE_SECONDS = -1
    settings.FRAMEIO_TIMEOUT_SECONDS = 601
    settings.ALERT_API_ERROR_RATE = 0
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 0}
    errors = {e.id: e.msg for e in check_setting_ranges()}
    assert errors == {
        "postflow.E002": "POSTFLOW_SETTLE_SECONDS=-1 is out of range: expected 0 or more",
        "postflow.E005": "FRAMEIO_TIMEOUT_SECONDS=601 is out of range: expected between 0 and 600 seconds",
        "postflow.E009": "ALERT_API_ERROR_RATE=0 is out of range: expected a percentage between 0 and 100",
        "postflow.E011": "Q_WORKERS=0 is out of range: expected at least 1 worker process",
    }
    with pytest.raises(SystemCheckError, match=r"(?s)postflow\.E002.*postflow\.E005.*postflow\.E009.*postflow\.E011"):
        call_command("check")


def test_the_defaults_pass_every_range_check_and_every_bound_names_real_settings(settings):
    assert check_setting_ranges() == []
    named = [name for bound in BOUNDS for name in bound.names]
    assert len(named) == len(set(named))  # one rule per variable
    nested = {"Q_WORKERS", "Q_TIMEOUT_SECONDS", "SQLITE_TIMEOUT_SECONDS"}
    assert [name for name in named if name not in nested and not hasattr(settings, name)] == []
