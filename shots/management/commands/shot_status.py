"""`manage.py shot_status NOMENCLATURE STATUS [--force --reason TEXT]`: move a shot from the shell."""

import getpass

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shots.models import Shot
from shots.services import ShotStatusError, shot_force_status, shot_transition
from shots.workflow import Status, describe_allowed


class Command(BaseCommand):
    help = "Move a shot to a status along the allowed moves, or force any status with --force --reason."

    def add_arguments(self, parser):
        parser.add_argument("shot", help="the shot's nomenclature (or its shot number)")
        parser.add_argument("status", help=f"target status: {', '.join(Status.values)}")
        parser.add_argument("--force", action="store_true", help="override the machine (needs --reason)")
        parser.add_argument("--reason", default="", help="why; required with --force, kept in the audit trail")
        parser.add_argument(
            "--project", default=settings.POSTFLOW_PROJECT_CODE, help="project code (default %(default)s)"
        )

    def handle(self, *args, shot: str, status: str, force: bool, reason: str, project: str, **options):
        if force and not reason.strip():
            raise CommandError("--force needs --reason TEXT: an override is kept in the audit trail with its reason")
        target = find_shot(project, shot)
        actor = f"shell:{getpass.getuser()}"
        try:
            if force:
                moved = shot_force_status(shot_id=target.pk, to_status=status, actor=actor, reason=reason)
            else:
                moved = shot_transition(shot_id=target.pk, to_status=status, actor=actor, reason=reason)
        except ShotStatusError as exc:
            hint = "" if force else " (an override needs --force --reason TEXT)"
            raise CommandError(f"{exc}{hint}") from None
        self.stdout.write(f"{moved}: {target.status} → {moved.status}; next allowed: {describe_allowed(moved.status)}")


def find_shot(project: str, key: str) -> Shot:
    shots = Shot.objects.select_related("project").filter(project__code=project)
    shot = shots.filter(nomenclature=key).first() or shots.filter(shot_number=key).first()
    if shot is None:
        raise CommandError(
            f"no shot {key!r} in project {project} (give its nomenclature, e.g. UNDLM_00042, or its shot number)"
        )
    return shot
