"""`manage.py deliver [--shot NOM ...] [--scene N ...] [--project CODE] [--dry-run] [--json]`."""

import json

from django.core.management.base import BaseCommand, CommandError

from delivery.batches import BatchReport, deliver_shots
from delivery.services import DeliveryRootError
from shots.models import Shot
from shots.workflow import Status

MAX_LISTED = 20  # a dry run lists this many files per shot, then "and N more"


class Command(BaseCommand):
    help = (
        "Deliver approved shots: each approved version's original render (the movie, or every frame) is copied "
        "to POSTFLOW_DELIVERY_PATH, verified by xxh3-128, sealed with an ASC MHL manifest, and the shot moves to "
        "final_delivery. Without --shot or --scene: every approved shot. A delivered shot named here is checked "
        "against its manifest. Exit status: 0 ok, 1 a delivery failed, 2 bad arguments."
    )

    def add_arguments(self, parser):
        parser.add_argument("--shot", action="append", default=[], metavar="NOM", help="a shot, by nomenclature")
        parser.add_argument("--scene", action="append", default=[], type=int, metavar="N", help="a scene's number")
        parser.add_argument("--project", help="only this project (its code)")
        parser.add_argument("--dry-run", action="store_true", help="show what would be copied, copy nothing")
        parser.add_argument("--json", action="store_true", help="print the result as one JSON object")

    def handle(self, *args, shot: list[str], scene: list[int], project: str | None, dry_run: bool, **options):
        shots = _selected(shot, scene, project)
        try:
            report = deliver_shots(shots, dry_run=dry_run)
        except DeliveryRootError as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        else:
            self._print(report)
        if report.failed:
            raise CommandError("a delivery failed, see above")

    def _print(self, report: BatchReport) -> None:
        for o in report.outcomes:
            head = f"{o.shot} v{o.version:03d}" if o.version else o.shot
            if o.result in ("delivered", "unchanged"):
                detail = f"{o.files} file(s) in {o.folder}, manifest {o.manifest}"
                if o.result == "delivered":
                    detail += f" ({o.copied} copied, {o.kept} already there)"
                self.stdout.write(f"{o.result:<9} {head}: {detail}")
            elif o.result == "planned":
                self.stdout.write(f"would copy {head}: {o.files} file(s), {o.bytes:,} bytes to {o.folder}")
                for name in o.names[:MAX_LISTED]:
                    self.stdout.write(f"  {name}")
                if len(o.names) > MAX_LISTED:
                    self.stdout.write(f"  … and {len(o.names) - MAX_LISTED} more")
            else:
                self.stdout.write(f"{o.result:<9} {head}: {o.error}")
        counts = ", ".join(f"{report.count(r)} {r}" for r in ("delivered", "unchanged", "failed", "skipped"))
        self.stdout.write(f"{report.root}: {counts}" + (" (dry run: nothing copied)" if report.dry_run else ""))


def _selected(names: list[str], scenes: list[int], project: str | None) -> list[Shot]:
    """The named shots (each must exist) and the scenes' approved and delivered shots; by default every
    approved shot. Bad arguments exit with status 2."""
    shots = Shot.objects.select_related("scene", "project").filter(omitted=False)
    if project is not None:
        if not shots.filter(project__code=project).exists():
            raise CommandError(f"no project {project!r} with shots", returncode=2)
        shots = shots.filter(project__code=project)
    if not names and not scenes:
        return list(shots.filter(status=Status.REVIEW_APPROVED))
    chosen = {}
    for name in names:
        found = list(shots.filter(nomenclature=name))
        if not found:
            raise CommandError(f"no shot {name!r} (by nomenclature)", returncode=2)
        chosen.update((s.pk, s) for s in found)
    for number in scenes:
        in_scene = shots.filter(scene__number=number)
        if not in_scene.exists():
            raise CommandError(f"no scene {number} with shots", returncode=2)
        ready = in_scene.filter(status__in=[Status.REVIEW_APPROVED, Status.FINAL_DELIVERY])
        chosen.update((s.pk, s) for s in ready)
    return sorted(chosen.values(), key=lambda s: (s.project_id, s.scene.number, s.timeline_in or 0, s.shot_number))
