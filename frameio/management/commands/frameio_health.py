import json

from django.core.management.base import BaseCommand, CommandError

from frameio.health import report, run_checks


class Command(BaseCommand):
    help = (
        "Check the Frame.io connection: mode and ids, token state, /v4/me, account, workspace and project "
        "reachable, rate-limit headroom; --write also creates and deletes a folder. Exits 1 if a check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help='print {"ok": bool, "checks": [...]} only')
        parser.add_argument(
            "--write", action="store_true", help="also create and delete a folder in a scratch folder of the project"
        )

    def handle(self, *args, **options):
        checks = run_checks(write=options["write"])
        result = report(checks)
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            width = max(len(c.name) for c in checks)
            for check in checks:
                ms = f" ({check.ms:.0f} ms)" if check.ms is not None else ""
                line = f"{'ok  ' if check.ok else 'FAIL'} {check.name:<{width}}  {check.detail}{ms}"
                self.stdout.write(self.style.SUCCESS(line) if check.ok else self.style.ERROR(line))
        failed = [c for c in checks if not c.ok]
        if failed:
            raise CommandError(f"{len(failed)} Frame.io check(s) failed: {', '.join(c.name for c in failed)}")
