from django.apps import AppConfig


class SheetsConfig(AppConfig):
    name = "sheets"
    verbose_name = "Google Sheets"

    def ready(self) -> None:
        # The system checks of the settings this app reads (sheets/checks.py), registered on import.
        from sheets import checks  # noqa: F401
