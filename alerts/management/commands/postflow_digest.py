import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from alerts import digest, services
from alerts.models import OutboxMessage


class Command(BaseCommand):
    help = (
        "The digest of the last day or week up to now: shots moved per stage, deliveries, renders verified and "
        "quarantined, uploads and their throughput, review notes in and still open, alerts. Printed; with --send, "
        "also sent to Discord (DISCORD_WEBHOOK_URL_DIGEST or the default) and by e-mail (ALERT_EMAILS) through the "
        "outbox. The schedules send it daily and weekly by themselves (POSTFLOW_DIGEST_*)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--period", choices=sorted(digest.PERIODS), default="day", help="default: day")
        parser.add_argument("--send", action="store_true", help="send it to Discord and by e-mail too")
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")

    def handle(self, *args, **options):
        start, end = digest.period_bounds(options["period"], timezone.now())
        figures = digest.digest_build(period=options["period"], start=start, end=end)
        if options["json"]:
            self.stdout.write(json.dumps(figures.as_dict(), indent=2))
        else:
            self.stdout.write(digest.as_text(figures))
        if options["send"]:
            self._send(figures)

    def _send(self, figures: digest.Digest) -> None:
        """Queued in the outbox, then sent at once; a failure stays there and is retried by the worker."""
        queued = digest.digest_queue(figures)
        if not queued:
            self.stderr.write("Nothing sent: no Discord webhook for the digest and no ALERT_EMAILS.")
        for message_id in queued:
            services.outbox_send(message_id=message_id)
            message = OutboxMessage.objects.get(pk=message_id)
            detail = f" ({message.last_error})" if message.last_error else ""
            self.stderr.write(f"{message.get_channel_display()}: {message.state}{detail}")
