"""Outgoing webhooks: what the lower apps report, queued for the endpoints subscribed to it."""


def connect() -> None:
    """Connect the receivers (api/apps.py); filled in with the outgoing webhooks."""
