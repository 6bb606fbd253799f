"""The checks behind `manage.py frameio_health`: configuration, token, reachability, optional write.

`run_checks()` returns one `Check` per line of the report; `report()` is the --json shape
{"ok": bool, "checks": [{"name", "ok", "detail", "ms"}]}.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from frameio import auth, webhooks
from frameio.client import FrameioClient, FrameioError, RetryPolicy
from frameio.models import REFRESH_TOKEN_LIFETIME

SCRATCH_FOLDER = "postflow-health"
NO_PROJECT_YET = "no project chosen yet: the first upload finds the production's project by name or creates it"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    ms: float | None = None


def report(checks: list[Check]) -> dict[str, Any]:
    return {"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes} min"
    return f"{sign}{minutes} min"


def _timed(name: str, fn: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail = fn()
        ok = True
    except FrameioError as exc:
        detail, ok = str(exc), False
    return Check(name, ok, detail, round((time.perf_counter() - started) * 1000, 1))


def check_config() -> Check:
    target = auth.effective_target()
    where = f"sandbox at {settings.FRAMEIO_API_URL}" if settings.FRAMEIO_SANDBOX else settings.FRAMEIO_API_URL
    ids = (
        f"account {target.account_id or '-'}, workspace {target.workspace_id or '-'}, "
        f"project {target.project_id or '-'}"
    )
    detail = f"mode {settings.FRAMEIO_AUTH}, {where}, IMS {settings.FRAMEIO_IMS_URL}; {ids}"
    if not (target.account_id and target.workspace_id):
        missing = [
            name
            for name, value in (
                ("FRAMEIO_ACCOUNT_ID", target.account_id),
                ("FRAMEIO_WORKSPACE_ID", target.workspace_id),
                ("FRAMEIO_DEFAULT_PROJECT_ID", target.project_id),
            )
            if not value
        ]
        return Check("config", False, f"{detail}; not chosen: {', '.join(missing)} (set them or use /frameio/connect/)")
    if not target.project_id:  # the first upload finds the production's project by name, or creates it
        return Check("config", True, f"{detail}; {NO_PROJECT_YET}")
    return Check("config", True, detail)


def _token_state(now: datetime) -> str:
    conn = auth.connection_get()
    if conn is None or conn.expires_at is None:
        return "no token"
    parts = [f"access token expires in {_human(conn.expires_at - now)}"]
    age = conn.refresh_token_age(now)
    if age is not None:
        left = REFRESH_TOKEN_LIFETIME - age
        parts.append(f"refresh token {_human(age)} old of {REFRESH_TOKEN_LIFETIME.days} d ({_human(left)} left)")
    elif conn.mode == conn.Mode.S2S:
        parts.append("server-to-server: no refresh token")
    return "; ".join(parts)


def check_token(now: datetime | None = None) -> tuple[Check, bool]:
    """The token check, and whether a token could be had at all (the remote checks need one)."""
    started = time.perf_counter()
    try:
        auth.current_token()
    except FrameioError as exc:
        return Check("token", False, str(exc), round((time.perf_counter() - started) * 1000, 1)), False
    ms = round((time.perf_counter() - started) * 1000, 1)
    now = now or timezone.now()
    conn = auth.connection_get()
    detail = _token_state(now)
    age = conn.refresh_token_age(now) if conn else None
    if age is not None and age >= REFRESH_TOKEN_LIFETIME:
        return Check("token", False, f"{detail}: the refresh token has expired, connect again", ms), True
    return Check("token", True, detail, ms), True


def _me(client: FrameioClient) -> str:
    me = client.me()
    return f"signed in as {me.name or me.id}" + (f" <{me.email}>" if me.email else "")


def _account(client: FrameioClient, target: auth.Target) -> str:
    accounts = {a.id: a for a in client.list_accounts()}
    account = accounts.get(target.account_id)
    if account is None:
        raise FrameioError(404, True, f"account {target.account_id} is not visible to this user", "accounts.index")
    return f"{account.display_name or account.id} ({account.id})"


def _workspace(client: FrameioClient, target: auth.Target) -> str:
    workspace = client.show_workspace(account_id=target.account_id, workspace_id=target.workspace_id)
    return f"{workspace.name or workspace.id} ({workspace.id})"


def _project(client: FrameioClient, target: auth.Target) -> str:
    project = client.show_project(account_id=target.account_id, project_id=target.project_id)
    if project.workspace_id and project.workspace_id != target.workspace_id:
        raise FrameioError(
            None, True, f"project {project.id} belongs to workspace {project.workspace_id}", "projects.show"
        )
    return f"{project.name or project.id} ({project.id}), root folder {project.root_folder_id}"


def _write(client: FrameioClient, target: auth.Target) -> str:
    """Create a folder inside the scratch folder (made on first use) under the project root, then delete it."""
    account_id = target.account_id
    root = client.show_project(account_id=account_id, project_id=target.project_id).root_folder_id
    if not root:
        raise FrameioError(None, True, "the project has no root_folder_id", "projects.show")
    scratch = next(
        (
            a
            for a in client.list_children(account_id=account_id, folder_id=root)
            if a.type == "folder" and a.name == SCRATCH_FOLDER
        ),
        None,
    ) or client.create_folder(account_id=account_id, parent_id=root, name=SCRATCH_FOLDER)
    probe = client.create_folder(
        account_id=account_id, parent_id=scratch.id, name=f"probe-{timezone.now():%Y%m%dT%H%M%S}"
    )
    client.delete_folder(account_id=account_id, folder_id=probe.id)
    return f"created and deleted a folder in {SCRATCH_FOLDER}/"


def check_rate_limits(client: FrameioClient) -> Check:
    seen = client.rate_limits()
    if not seen:
        return Check("rate_limits", True, "no x-ratelimit headers seen")
    parts, exhausted = [], []
    for op, rl in sorted(seen.items()):
        parts.append(f"{op} {rl.remaining}/{rl.limit} per {rl.window_ms / 1000:g} s")
        if rl.remaining <= 0:
            exhausted.append(op)
    detail = "headroom: " + ", ".join(parts)
    if exhausted:
        return Check("rate_limits", False, f"{detail}; exhausted: {', '.join(exhausted)}")
    return Check("rate_limits", True, detail)


def check_webhook(client: FrameioClient | None) -> Check:
    """The review webhook: registered, still active in Frame.io (when a token is there), deliveries flowing."""
    started = time.perf_counter()
    try:
        ok, detail = webhooks.webhook_health(client)
    except FrameioError as exc:
        ok, detail = False, str(exc)
    return Check("webhook", ok, detail, round((time.perf_counter() - started) * 1000, 1))


def _connect_first() -> None:
    """Server-to-Server on a fresh install: connect as the first upload would (the only account and
    workspace are chosen), so that the checks see what the uploads will use. A failure shows in `token`."""
    with contextlib.suppress(FrameioError):
        auth.target_or_connect()


def run_checks(*, write: bool = False, client: FrameioClient | None = None) -> list[Check]:
    """Every check, in order; those that need a token are reported as skipped when there is none."""
    _connect_first()
    token_check, have_token = check_token()
    checks = [check_config(), token_check]
    target = auth.effective_target()
    remote: list[tuple[str, Callable[[], str]]] = []
    client = client or auth.build_client(retry=RetryPolicy(max_attempts=2, cap=2.0))
    remote.append(("me", lambda: _me(client)))
    if target.account_id and target.workspace_id:
        remote += [
            ("account", lambda: _account(client, target)),
            ("workspace", lambda: _workspace(client, target)),
            ("project", lambda: _project(client, target) if target.project_id else NO_PROJECT_YET),
        ]
        if write and target.project_id:
            remote.append(("write", lambda: _write(client, target)))
    if not have_token:
        checks += [Check(name, False, "skipped: no usable token") for name, _ in remote]
        checks.append(check_webhook(None))
        return checks
    checks += [_timed(name, fn) for name, fn in remote]
    checks.append(check_webhook(client if target.account_id and target.workspace_id else None))
    checks.append(check_rate_limits(client))
    return checks
