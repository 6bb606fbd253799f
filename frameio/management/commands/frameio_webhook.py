"""Register, check or remove the review webhook of the Frame.io workspace."""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from frameio.auth import build_client
from frameio.client import FrameioError
from frameio.webhooks import EVENTS, WebhookError, webhook_register, webhook_remove, webhook_status, webhook_url


class Command(BaseCommand):
    help = (
        "The Frame.io webhook that brings review back (comments, Status, files): `register [--url URL]` "
        "(idempotent; --replace makes a new one and secret), `status`, `remove`. The secret is stored "
        "encrypted and never printed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        register = sub.add_parser("register", help=f"register for: {', '.join(EVENTS)}")
        register.add_argument(
            "--url",
            help="https://<host>/frameio/webhook/ (http only on loopback); default: FRAMEIO_WEBHOOK_URL, else "
            "POSTFLOW_PUBLIC_URL/frameio/webhook/, else the web process's own address with the embedded sandbox",
        )
        register.add_argument("--replace", action="store_true", help="a new webhook and secret even if one works")
        status = sub.add_parser("status", help="what is registered, whether Frame.io still has it, deliveries")
        status.add_argument("--json", action="store_true", help="print the state as one JSON object")
        sub.add_parser("remove", help="delete the webhook in Frame.io and here")

    def handle(self, *args, action: str, **options) -> None:
        try:
            if action == "register":
                self._register(options["url"], options["replace"])
            elif action == "status":
                self._status(options["json"])
            else:
                removed = webhook_remove()
                self.stdout.write(f"removed webhook {removed}" if removed else "no webhook registered: nothing to do")
        except (WebhookError, FrameioError) as exc:
            raise CommandError(str(exc)) from None

    def _register(self, url: str | None, replace: bool) -> None:
        url = url or webhook_url()
        if not url:
            raise CommandError(
                "where should Frame.io post? pass --url https://<host>/frameio/webhook/, or set POSTFLOW_PUBLIC_URL"
            )
        result = webhook_register(url=url, replace=replace)
        hook = result.webhook
        if not result.created:
            self.stdout.write(f"already registered: webhook {hook.webhook_id} → {hook.url}")
            return
        self.stdout.write(self.style.SUCCESS(f"registered webhook {hook.webhook_id} → {hook.url}"))
        self.stdout.write(f"events: {', '.join(hook.events)}; secret stored encrypted")
        if result.removed:
            self.stdout.write(f"deleted the webhook(s) it replaces: {', '.join(result.removed)}")

    def _status(self, as_json: bool) -> None:
        try:
            client = build_client()
            state = webhook_status(client=client)
        except FrameioError as exc:
            self.stderr.write(f"Frame.io not reachable ({exc}); local state only")
            state = webhook_status(client=None)
        if as_json:
            self.stdout.write(json.dumps(state, indent=2))
        elif not state["registered"]:
            self.stdout.write("not registered: review comes back by polling only")
        else:
            deliveries = state["deliveries"]
            self.stdout.write(f"webhook {state['webhook_id']} → {state['url']} ({state['remote']} in Frame.io)")
            self.stdout.write(f"events: {', '.join(state['events'])}")
            self.stdout.write(
                f"deliveries: last {deliveries['last_received_at'] or 'never'}, "
                f"{json.dumps(deliveries['by_state'])}, stuck {deliveries['stuck']}"
            )
            for problem in state["problems"]:
                self.stdout.write(self.style.ERROR(f"problem: {problem}"))
        if state["problems"]:
            raise CommandError(f"{len(state['problems'])} problem(s) with the webhook")
