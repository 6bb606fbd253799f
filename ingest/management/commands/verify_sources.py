"""`manage.py verify_sources [--root PATH] [--project CODE] [--json] [--accept-changed]`: the sources check once."""

import json
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ingest.rushes import RushesUnavailable
from ingest.sources import SourcesReport, verify_sources
from shots.models import Project


class Command(BaseCommand):
    help = (
        "Find every shot's source file under the rushes (POSTFLOW_RUSHES_PATH), probe it once, and check that "
        "the shot's source in and out lie inside the clip's timecodes. Pending shots that check out move to "
        "sources_verified; the others are reported with the reason. `manage.py watch` runs the same check "
        "when rushes arrive or change."
    )

    def add_arguments(self, parser):
        parser.add_argument("--root", type=Path, help="the rushes root (default: POSTFLOW_RUSHES_PATH)")
        parser.add_argument("--project", help="only the shots of this project (its code)")
        parser.add_argument("--json", action="store_true", help='print {"verified", "already", "problems"}')
        parser.add_argument(
            "--accept-changed",
            action="store_true",
            help="take a changed clip as the new reference when every shot resting on it still fits it",
        )

    def handle(self, *args, root: Path | None, project: str | None, json: bool, accept_changed: bool, **options):
        if project and not Project.objects.filter(code=project).exists():
            raise CommandError(f"no project {project!r}")
        progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
        started = time.perf_counter()
        try:
            report = verify_sources(root=root, project=project, accept_changed=accept_changed, progress=progress)
        except RushesUnavailable as exc:
            raise CommandError(str(exc)) from None
        finally:
            if progress is not None:
                progress.finish()
        if json:
            self.stdout.write(_json_dumps(report.as_dict()))
        else:
            self._print(report, time.perf_counter() - started)
        if report.problems:
            # The report is out in full; the exit status tells a script that not every source checks out
            # (as import_shots and shot_tree do).
            raise CommandError(f"{len(report.problems)} problem(s), listed above")

    def _print(self, report: SourcesReport, seconds: float) -> None:
        for problem in report.problems:
            self.stdout.write(f"{problem.kind:<14} {problem.shot:<16} {problem.source_file}: {problem.detail}")
        summary = (
            f"{report.verified} verified, {report.already} already, {len(report.problems)} problem(s); "
            f"{report.sources} source file(s), {report.probed} probed, in {seconds:.1f} s"
        )
        self.stdout.write(self.style.WARNING(summary) if report.problems else self.style.SUCCESS(summary))


def _json_dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


class _Progress:
    """One line on a terminal, rewritten after each source file."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.shown = False

    def __call__(self, done: int, total: int, name: str) -> None:
        self.stream.write(f"\r\033[Ksources {done}/{total} {name[:60]}")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
