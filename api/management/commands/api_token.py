"""`manage.py api_token create USERNAME [--read-only] [--expires-days N] [--name TEXT] | list | revoke ID`."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api.models import ApiToken
from api.tokens import TokenError, token_create, token_revoke


class Command(BaseCommand):
    help = "Create (printed once, stored hashed), list or revoke REST API tokens (docs/api.md)."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="A new token for USERNAME, printed once.")
        create.add_argument("username")
        create.add_argument("--read-only", action="store_true", help="The token never writes.")
        create.add_argument("--expires-days", type=int, default=None, help="Expires N days from now.")
        create.add_argument("--name", default="", help="What uses it, e.g. 'AE render node 3'.")
        listing = actions.add_parser("list", help="Every token: id, prefix, user, scope, expiry, state.")
        listing.add_argument("--all", action="store_true", help="Revoked and expired ones too.")
        revoke = actions.add_parser("revoke", help="Revoke a token by its id (see list).")
        revoke.add_argument("token_id", type=int)

    def handle(self, *args, action: str, **options) -> None:
        getattr(self, f"_{action}")(**options)

    def _create(self, *, username: str, read_only: bool, expires_days: int | None, name: str, **_) -> None:
        try:
            made = token_create(username=username, name=name, read_only=read_only, expires_days=expires_days)
        except TokenError as exc:
            raise CommandError(str(exc)) from None
        token = made.token
        expiry = f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "does not expire"
        scope = "read-only" if token.read_only else "read-write"
        self.stderr.write(f"token {token.pk} for {token.user} ({scope}, {expiry}). Shown once: keep it now.")
        self.stdout.write(made.secret)

    def _list(self, *, all: bool, **_) -> None:
        now = timezone.now()
        tokens = ApiToken.objects.select_related("user").order_by("id")
        for token in tokens:
            state = token.refusal(now) or "active"
            if state != "active" and not all:
                continue
            expiry = f"{token.expires_at:%Y-%m-%d}" if token.expires_at else "never"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            scope = "read-only" if token.read_only else "read-write"
            self.stdout.write(
                f"{token.pk}\t{token.prefix}…\t{token.user}\t{scope}\texpires {expiry}\tused {used}\t{state}"
                f"{chr(9) + token.name if token.name else ''}"
            )

    def _revoke(self, *, token_id: int, **_) -> None:
        if not ApiToken.objects.filter(pk=token_id).exists():
            raise CommandError(f"no token {token_id} (manage.py api_token list --all)")
        if not token_revoke(token_id=token_id):
            raise CommandError(f"token {token_id} was revoked already")
        self.stdout.write(f"token {token_id} revoked")
