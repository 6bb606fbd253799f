"""`manage.py shot_tree [--create] [--project CODE] [--root PATH] [--json]`: each shot's folders on the mount."""

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingest.tree import TreeReport, shot_tree
from shots.models import Project

# The dry run lists this many folders, then "and N more".
MAX_LISTED = 200


class Command(BaseCommand):
    help = (
        "Lay out the folders each shot in the cut needs under the mount (LUCIDLINK_MOUNT_PATH), from the "
        "project's folder template (admin) or POSTFLOW_SHOT_TREE_TEMPLATE. Without --create, shows what it "
        "would make. Never deletes or renames anything."
    )

    def add_arguments(self, parser):
        parser.add_argument("--create", action="store_true", help="make the missing folders (default: only list)")
        parser.add_argument("--project", help="only this project's shots (default: every project)")
        parser.add_argument("--root", type=Path, help="the mount to lay out under (default: LUCIDLINK_MOUNT_PATH)")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args, create: bool, project: str | None, root: Path | None, json: bool, **options):
        root = root or _default_root()
        if not root.is_dir():
            raise CommandError(f"{root} is not a folder (is the LucidLink filespace mounted?)")
        report = shot_tree(_projects(project), root=root, create=create)
        if json:
            self.stdout.write(_json(report))
        else:
            self._print(report)
        if report.problems:
            # The report is out in full; the exit status tells a script that not every folder is there.
            raise CommandError(f"{len(report.problems)} problem(s), listed above")

    def _print(self, report: TreeReport) -> None:
        made = "made" if report.applied else "to make (dry run: --create makes them)"
        self.stdout.write(
            f"{report.root}: {report.shots} shot(s) · {len(report.created)} folder(s) {made} · "
            f"{report.existing} already there · {len(report.renamed)} renamed · {len(report.problems)} problem(s)"
        )
        if not report.applied:
            for path in report.created[:MAX_LISTED]:
                self.stdout.write(f"  + {path}")
            if len(report.created) > MAX_LISTED:
                self.stdout.write(f"  … and {len(report.created) - MAX_LISTED} more")
        for item in report.renamed:
            self.stdout.write(f"renamed {item['shot']}: {item['new']} (the old folder {item['old']} is left as it is)")
        for problem in report.problems:
            where = f" {problem.path}" if problem.path else ""
            self.stdout.write(f"problem {problem.shot or 'project'}{where}: {problem.kind}: {problem.detail}")


def _default_root() -> Path:
    root = Path(settings.LUCIDLINK_MOUNT_PATH)
    # As `watch` does: the embedded default is a plain folder under var/, made on first use; a configured
    # mount never is, so a filespace that is not mounted fails here instead of filling the mount point.
    if root == Path(settings.VAR_DIR) / "lucidlink":
        root.mkdir(parents=True, exist_ok=True)
    return root


def _projects(code: str | None) -> list[Project]:
    if code is None:
        return list(Project.objects.all())
    project = Project.objects.filter(code=code).first()
    if project is None:
        known = ", ".join(Project.objects.values_list("code", flat=True)) or "none yet"
        raise CommandError(f"no project {code!r} (projects: {known})")
    return [project]


def _json(report: TreeReport) -> str:
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
