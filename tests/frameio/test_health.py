"""frameio.health and `manage.py frameio_health` against `responses`."""

import json
from datetime import timedelta
from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from frameio import health
from frameio.models import FrameioConnection
from tests.frameio.test_auth import API, SETTINGS, make_connection

pytestmark = pytest.mark.django_db

RL = {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "97", "x-ratelimit-window": "60000"}
A = f"{API}/v4/accounts/a1"


@pytest.fixture(autouse=True)
def frameio_settings():
    with override_settings(**SETTINGS):
        yield


@pytest.fixture
def connected():
    return make_connection(account_id="a1", workspace_id="w1", project_id="p1", project_name="UNDLM")


def mock_reads(rsps, project_status=200):
    rsps.get(f"{API}/v4/me", json={"data": {"id": "u1", "name": "Ada", "email": "ada@example.com"}}, headers=RL)
    rsps.get(f"{API}/v4/accounts", json={"data": [{"id": "a1", "display_name": "Acc"}], "links": {}}, headers=RL)
    rsps.get(f"{A}/workspaces/w1", json={"data": {"id": "w1", "name": "WS"}}, headers=RL)
    if project_status == 200:
        project = {"id": "p1", "name": "UNDLM", "workspace_id": "w1", "root_folder_id": "r1"}
        rsps.get(f"{A}/projects/p1", json={"data": project}, headers=RL)
    else:
        rsps.get(f"{A}/projects/p1", status=project_status, json={"errors": [{"detail": "Not found"}]})


def by_name(checks):
    return {c.name: c for c in checks}


def test_all_green(rsps, connected):
    mock_reads(rsps)
    checks = by_name(health.run_checks())
    assert list(checks) == ["config", "token", "me", "account", "workspace", "project", "webhook", "rate_limits"]
    assert all(c.ok for c in checks.values()), checks
    assert "mode oauth" in checks["config"].detail and "project p1" in checks["config"].detail
    assert "access token expires in" in checks["token"].detail and "of 14 d" in checks["token"].detail
    assert checks["me"].detail == "signed in as Ada <ada@example.com>"
    assert checks["project"].detail.startswith("UNDLM (p1)")
    assert "users.show 97/100 per 60 s" in checks["rate_limits"].detail
    assert all(isinstance(checks[n].ms, float) for n in ("token", "me", "account", "workspace", "project"))


def test_write_creates_and_deletes_in_a_scratch_folder(rsps, connected):
    mock_reads(rsps)
    rsps.get(f"{A}/projects/p1", json={"data": {"id": "p1", "root_folder_id": "r1"}})
    rsps.get(f"{A}/folders/r1/children", json={"data": [{"id": "x", "type": "file", "name": "a.mov"}], "links": {}})
    rsps.post(
        f"{A}/folders/r1/folders",
        status=201,
        match=[responses.matchers.json_params_matcher({"data": {"name": "postflow-health"}})],
        json={"data": {"id": "scratch", "type": "folder", "name": "postflow-health"}},
    )
    rsps.post(f"{A}/folders/scratch/folders", status=201, json={"data": {"id": "probe", "type": "folder"}})
    rsps.delete(f"{A}/folders/probe", status=204)
    checks = by_name(health.run_checks(write=True))
    assert checks["write"].ok and "created and deleted" in checks["write"].detail


def test_write_reuses_the_scratch_folder(rsps, connected):
    mock_reads(rsps)
    rsps.get(f"{A}/projects/p1", json={"data": {"id": "p1", "root_folder_id": "r1"}})
    rsps.get(
        f"{A}/folders/r1/children",
        json={"data": [{"id": "scratch", "type": "folder", "name": "postflow-health"}], "links": {}},
    )
    rsps.post(f"{A}/folders/scratch/folders", status=201, json={"data": {"id": "probe", "type": "folder"}})
    rsps.delete(f"{A}/folders/probe", status=204)
    assert by_name(health.run_checks(write=True))["write"].ok


def test_an_unreachable_project_fails_its_check_only(rsps, connected):
    mock_reads(rsps, project_status=404)
    checks = by_name(health.run_checks())
    assert not checks["project"].ok and "HTTP 404" in checks["project"].detail
    assert checks["me"].ok and checks["account"].ok and checks["workspace"].ok


def test_not_connected_skips_remote_checks():
    checks = by_name(health.run_checks())
    assert not checks["config"].ok and "FRAMEIO_DEFAULT_PROJECT_ID" in checks["config"].detail
    assert not checks["token"].ok and "/frameio/connect/" in checks["token"].detail
    assert checks["me"].detail == "skipped: no usable token"
    assert health.report(list(checks.values()))["ok"] is False


def test_needs_reauth_is_reported(connected):
    FrameioConnection.objects.update(needs_reauth=True, reauth_reason="IMS refused the refresh token (invalid_grant)")
    checks = by_name(health.run_checks())
    assert not checks["token"].ok and "invalid_grant" in checks["token"].detail
    assert not checks["project"].ok and checks["project"].detail.startswith("skipped")


def test_an_expired_refresh_token_fails_the_token_check(rsps, connected):
    FrameioConnection.objects.update(refresh_token_issued_at=timezone.now() - timedelta(days=15))
    mock_reads(rsps)
    checks = by_name(health.run_checks())
    assert not checks["token"].ok and "refresh token has expired" in checks["token"].detail


def test_command_json_output_and_exit_status(rsps, connected):
    mock_reads(rsps, project_status=404)
    out = StringIO()
    with pytest.raises(CommandError, match=r"1 Frame.io check\(s\) failed: project"):
        call_command("frameio_health", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["ok"] is False
    assert all(set(c) == {"name", "ok", "detail", "ms"} for c in result["checks"])
    assert [c["name"] for c in result["checks"] if not c["ok"]] == ["project"]


def test_command_human_output_is_one_line_per_check(rsps, connected):
    mock_reads(rsps)
    out = StringIO()
    call_command("frameio_health", stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 8 and all(line.startswith("ok ") for line in lines)
    assert "ms)" in lines[2]
