from django.apps import AppConfig


class FrameioConfig(AppConfig):
    name = "frameio"
    verbose_name = "Frame.io"

    def ready(self) -> None:
        from frameio import jobs
        from ingest import signals as ingest_signals

        # A render the watcher queued for review becomes an upload job (ingest knows nothing of Frame.io).
        ingest_signals.render_queued.connect(jobs.upload_render_on_commit, dispatch_uid="frameio.upload_render")
        # The system checks of the settings this app reads (frameio/checks.py), registered on import.
        from frameio import checks  # noqa: F401
