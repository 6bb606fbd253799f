import json

from django.core.management.base import BaseCommand, CommandError

from alerts.models import Alert
from alerts.services import alerts_evaluate, outbox_flush


class Command(BaseCommand):
    help = (
        "Evaluate the alert rules once, now (the worker does it every minute): open, refresh and resolve "
        "alerts, then list the unresolved ones. Exits 1 if a rule could not run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--json", action="store_true", help='print {"opened", "resolved", "firing", "errors", "alerts"}'
        )
        parser.add_argument("--no-sample", action="store_true", help="do not sample process memory and queue depth")
        parser.add_argument("--send", action="store_true", help="also send the queued notifications now")

    def handle(self, *args, **options):
        result = alerts_evaluate(sample=not options["no_sample"])
        sent = outbox_flush() if options["send"] else None
        unresolved = list(Alert.objects.filter(state__in=Alert.UNRESOLVED).order_by("rule", "key"))
        if options["json"]:
            alerts = [
                {"id": a.pk, "key": a.key, "rule": a.rule, "severity": a.severity, "state": a.state, "title": a.title}
                for a in unresolved
            ]
            self.stdout.write(json.dumps({**result.as_dict(), "alerts": alerts, "outbox": sent}, indent=2))
        else:
            self._print(result, unresolved, sent)
        if result.errors:
            raise CommandError(f"{len(result.errors)} rule(s) could not run: {', '.join(result.errors)}")

    def _print(self, result, unresolved, sent) -> None:
        for key in result.opened:
            self.stdout.write(self.style.WARNING(f"opened    {key}"))
        for key in result.resolved:
            self.stdout.write(self.style.SUCCESS(f"resolved  {key}"))
        for rule, error in result.errors.items():
            self.stdout.write(self.style.ERROR(f"FAILED    rule {rule}: {error}"))
        if not unresolved:
            self.stdout.write(self.style.SUCCESS("No alert."))
        for alert in unresolved:
            line = f"{alert.severity:<8} {alert.state:<12} {alert.title}"
            self.stdout.write(self.style.ERROR(line) if alert.severity == "critical" else line)
        if sent is not None:
            self.stdout.write(f"notifications: {sent['sent']} sent, {sent['not_sent']} not sent")
