from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"

    def ready(self) -> None:
        from alerts import hooks, metrics
        from delivery import signals as delivery_signals
        from frameio import client
        from frameio import signals as frameio_signals
        from ingest import signals as ingest_signals

        # Every Frame.io API exchange becomes a metric row (the client itself stays free of models).
        if metrics.record_api_call not in client.observers:
            client.observers.append(metrics.record_api_call)
        # What the lower apps report, as messages and metrics (they know nothing of alerts).
        for signal, hook in (
            (frameio_signals.upload_finished, hooks.upload_finished),
            (frameio_signals.upload_transfer_measured, hooks.upload_transfer_measured),
            (frameio_signals.review_decided, hooks.review_decided),
            (frameio_signals.scene_folder_lookup, hooks.scene_folder_lookup),
            (ingest_signals.watcher_scanned, hooks.watcher_scanned),
            (ingest_signals.source_changed, hooks.source_changed),
            (delivery_signals.batch_finished, hooks.deliveries_finished),
        ):
            signal.connect(hook, dispatch_uid=f"alerts.{hook.__name__}")
        # The digests' schedules follow their settings after every migrate (alerts/digest_schedule.py).
        from django.db.models.signals import post_migrate

        from alerts.digest_schedule import sync_after_migrate

        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="alerts.digest_schedules")
        # The system checks of the settings this app reads (alerts/checks.py), registered on import.
        from alerts import checks  # noqa: F401
