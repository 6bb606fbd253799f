from django.apps import AppConfig


class PostflowConfig(AppConfig):
    name = "postflow"

    def ready(self) -> None:
        # The range checks of postflow's own settings (postflow/checks.py), registered on import.
        from postflow import checks  # noqa: F401
