"""postflow in child processes against a sandbox: the environment and `manage.py` runs that the
crash, stop and batch tests and the benches share (real processes, a SQLite file, the sandbox over HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frameio_sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parent.parent
ONE_SHOT_SHEET = "SHOT_NUMBER,NOMENCLATURE,SCENE\n001,UNDLM_00001,SCENE A\n"


def child_env(work: Path, sandbox: Sandbox | None = None, **extra: str) -> dict[str, str]:
    """The environment of a postflow child process: its own SQLite file and var/ under `work`, and,
    with `sandbox`, Frame.io there with a Server-to-Server connection (as `make run` has it)."""
    values = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "POSTFLOW_VAR_DIR": str(work / "var"),
    }
    if sandbox is not None:
        values |= {
            "FRAMEIO_SANDBOX": "true",
            "FRAMEIO_SANDBOX_URL": sandbox.base_url,
            "FRAMEIO_AUTH": "s2s",
            "FRAMEIO_ACCOUNT_ID": sandbox.account_id,
            "FRAMEIO_WORKSPACE_ID": sandbox.workspace_id,
        }
    return values | extra


def manage(env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`manage.py ARGS` in a child process, checked, its output captured as text."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        **kwargs,
    )
