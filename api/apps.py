from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        # Outgoing webhooks: what the lower apps report becomes an outbox row per subscribed endpoint
        # (api/hooks.py), written in the sender's transaction, sent on commit by api.tasks.
        from api import hooks

        hooks.connect()
        from api import checks  # noqa: F401  (the settings this app reads, checked at start)
