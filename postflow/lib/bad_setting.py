"""A variable whose value postflow cannot read, said in one line, and how every entry point stops on it.

postflow/settings.py raises `SettingError` when a variable is not of its type (a number, a URL, a
path...); `manage.py`, `postflow/asgi.py` and `postflow/wsgi.py` catch any ImproperlyConfigured while
loading the settings and stop with one line on stderr and exit status 2, instead of a traceback. Values
of the right type that are out of range are system checks (postflow/checks.py and each app's checks.py),
all reported at once by `manage.py check`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import NoReturn, TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

EXIT_BAD_SETTING = 2  # a usage error (as argparse's), not a crash


class SettingError(ImproperlyConfigured):
    """NAME='value' is not valid: expected ... A secret's value (a webhook or database URL, a key) is
    never repeated: it shows as <hidden>."""

    def __init__(self, name: str, value: str, expected: str, *, secret: bool = False) -> None:
        self.name, self.expected = name, expected
        shown = "<hidden>" if secret else repr(value)
        super().__init__(f"{name}={shown} is not valid: expected {expected}")


def stop(message: str, details: Iterable[str] = ()) -> NoReturn:
    """`postflow: message` on stderr (then any detail lines, indented) and exit status 2."""
    lines = [f"postflow: {' '.join(str(message).split())}"] + [f"  {line}" for line in details]
    print("\n".join(lines), file=sys.stderr)
    raise SystemExit(EXIT_BAD_SETTING)


def load_or_stop(load: Callable[[], T]) -> T:
    """Run `load` (something that reads the settings); a bad setting stops the process in one line."""
    try:
        return load()
    except ImproperlyConfigured as exc:
        stop(str(exc))


def refuse_failed_checks() -> None:
    """Run the system checks, as every manage.py command does and daphne does not; serious ones stop the
    process, one line each (what `manage.py check` shows, with its id)."""
    from django.core import checks

    errors = [e for e in checks.run_checks() if e.is_serious() and not e.is_silenced()]
    if errors:
        stop(
            f"the system checks found {len(errors)} problem(s) in the settings (manage.py check lists them):",
            (" ".join(str(e).split()) for e in errors),
        )
