import json

from django.core.management.base import BaseCommand, CommandError

from alerts import report


class Command(BaseCommand):
    help = (
        "Performance report over a period: Frame.io API calls (success rate, mean and median latency), uploads "
        "(mean and median MB/s), structure cache hit rate, scans, CPU and memory, errors by kind, recommendations. "
        "Also written to var/reports/ (JSON and text)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", default="24h", help="the period up to now: 90m, 24h, 7d, 1w (default 24h)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **options):
        try:
            since = report.parse_period(options["since"])
        except ValueError as exc:
            raise CommandError(f"--since: {exc}") from None
        data = report.build(since=since)
        json_path, text_path = report.write(data)
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            self.stderr.write(f"Written to {json_path} and {text_path}.")
        else:
            self.stdout.write(report.as_text(data))
            self.stdout.write(f"Written to {text_path} and {json_path}.")
