"""A real daphne server and Debian's headless Chromium, for the browser tests and the benches.

Nothing here runs in production; it lives in tests/ so that the tests and bench/ share it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium, never a downloaded build: no sandbox (root in CI), no network beyond loopback.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_missing() -> str:
    """Why a browser test cannot run here, or '' when it can."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` to run the browser tests"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; never `playwright install`)"
    return ""


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(*, database: str | Path, var_dir: Path, port: int = 0, **extra: str) -> dict[str, str]:
    """The environment of a postflow process on `database` (a DATABASE_URL, or an SQLite file's
    path), with its own var/."""
    url = str(database) if "://" in str(database) else f"sqlite:///{Path(database).resolve()}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "postflow.settings",
        "DATABASE_URL": url,
        "POSTFLOW_VAR_DIR": str(var_dir),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        **extra,
    }
    if port:
        env["POSTFLOW_PORT"] = str(port)
    return env


@contextmanager
def daphne_server(
    *, database: str | Path, var_dir: Path, timeout: float = 60, **extra: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Collect the static files, start `daphne postflow.asgi:application` on a free loopback port,
    wait until it answers, yield (base URL, process), stop it."""
    var_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = server_env(database=database, var_dir=var_dir, port=port, **extra)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "collectstatic", "--noinput", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    log = (var_dir / "daphne.log").open("wb")
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "postflow.asgi:application"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{base}/admin/login/", process, timeout, var_dir / "daphne.log")
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"daphne did not answer {url} within {timeout} s:\n{log.read_text()[-3000:]}")


def setup_standalone_django(workdir: Path) -> Path:
    """For a bench: point this process at a fresh SQLite database (and var/) in `workdir`, set
    Django up and migrate. A daphne_server on the same `workdir` shares the database and the
    secret key, so sessions made here are valid there. Returns the database path."""
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "bench.sqlite3"
    os.environ.update(server_env(database=database, var_dir=workdir))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return database


def session_cookies(username: str, count: int) -> list[str]:
    """`count` sessions of one staff user (created if needed), as session ids."""
    from django.contrib.auth.models import User
    from django.test import Client

    user = User.objects.filter(username=username).first() or User.objects.create_user(username, is_staff=True)
    ids = []
    for _ in range(count):
        client = Client()
        client.force_login(user)
        ids.append(client.cookies["sessionid"].value)
    return ids


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]
