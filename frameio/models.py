from datetime import datetime, timedelta

from django.db import models

# Adobe IMS refresh tokens live 14 days by default; every refresh returns a new one.
REFRESH_TOKEN_LIFETIME = timedelta(days=14)


class FrameioConnection(models.Model):
    """The one Frame.io connection of this install: credentials mode, target ids and encrypted tokens.

    There is one row (key "default"); `frameio.auth` is the only writer. Tokens are Fernet-encrypted
    (`frameio.crypto`) and never shown in the admin, repr or logs.
    """

    SINGLETON_KEY = "default"

    class Mode(models.TextChoices):
        OAUTH = "oauth", "OAuth Web App (a person connected)"
        S2S = "s2s", "Server-to-Server (client credentials)"

    key = models.CharField(max_length=20, unique=True, default=SINGLETON_KEY, editable=False)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.OAUTH)
    connected_as = models.CharField(max_length=255, blank=True, help_text="Frame.io user name and e-mail")
    account_id = models.CharField(max_length=64, blank=True)
    account_name = models.CharField(max_length=255, blank=True)
    workspace_id = models.CharField(max_length=64, blank=True)
    workspace_name = models.CharField(max_length=255, blank=True)
    project_id = models.CharField(max_length=64, blank=True)
    project_name = models.CharField(max_length=255, blank=True)
    root_folder_id = models.CharField(max_length=64, blank=True)
    access_token_enc = models.TextField(blank=True, editable=False)
    refresh_token_enc = models.TextField(blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="access token expiry")
    refresh_token_issued_at = models.DateTimeField(null=True, blank=True)
    scopes = models.CharField(max_length=500, blank=True)
    needs_reauth = models.BooleanField(default=False)
    reauth_reason = models.CharField(max_length=500, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "Frame.io connection"

    def __str__(self) -> str:
        target = self.project_name or self.project_id or "no project chosen"
        return f"Frame.io ({self.get_mode_display()}): {target}"

    @property
    def has_tokens(self) -> bool:
        return bool(self.access_token_enc)

    def expires_in(self, now: datetime) -> timedelta | None:
        return self.expires_at - now if self.expires_at else None

    def refresh_token_age(self, now: datetime) -> timedelta | None:
        if not self.refresh_token_enc or not self.refresh_token_issued_at:
            return None
        return now - self.refresh_token_issued_at

    def refresh_token_expires_in(self, now: datetime) -> timedelta | None:
        age = self.refresh_token_age(now)
        return REFRESH_TOKEN_LIFETIME - age if age is not None else None
