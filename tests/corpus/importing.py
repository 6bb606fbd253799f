"""What the CSV and EDL corpora share: a project with shots to protect, every row an import could
touch as a snapshot, and one `import_shots --json` run that returns its outcome instead of raising."""

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from django.core.management import CommandError, call_command

from postflow.models import LiveEvent
from shots.models import Project, Scene, Shot, ShotEvent, SourceFile
from tests.shots.csvfiles import HEADER, row

# What an import writes: the project, its scenes, sources, shots, their audit rows, the live event.
WRITTEN_BY_AN_IMPORT = (Project, Scene, SourceFile, Shot, ShotEvent, LiveEvent)
SEEDED = [row(1), row(2, start=2), row(3, start=4)]  # lines 2-4 of every generated sheet


def sheet(*rows: list[str], header: list[str] = HEADER, newline: str = "\n") -> str:
    """A shot list as a spreadsheet writes it (cells quoted only when they must be)."""
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows([header, *rows])
    return out.getvalue()


def seed(directory: Path) -> None:
    """Project UNDLM at 25 fps with shots 001-003, imported the ordinary way."""
    path = directory / "seed.csv"
    path.write_text(sheet(*SEEDED))
    outcome = import_shots(path)
    assert outcome.error is None and outcome.report["created"] == 3


def snapshot() -> dict[str, list[dict]]:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in WRITTEN_BY_AN_IMPORT}


@dataclass(frozen=True)
class Outcome:
    error: str | None  # the CommandError's message; None when the command succeeded
    report: dict | None  # the --json report, when the command got as far as printing one


def import_shots(*args: object) -> Outcome:
    stdout = io.StringIO()
    try:
        call_command("import_shots", *map(str, args), "--json", stdout=stdout)
    except CommandError as exc:
        error = str(exc)
    else:
        error = None
    printed = stdout.getvalue()
    return Outcome(error, json.loads(printed) if printed else None)
