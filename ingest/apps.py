from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "ingest"
    verbose_name = "Render ingest"

    def ready(self) -> None:
        # The system checks of the settings this app reads (ingest/checks.py), registered on import.
        from ingest import checks  # noqa: F401
