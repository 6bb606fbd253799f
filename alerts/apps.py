from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"

    def ready(self) -> None:
        from alerts import metrics
        from frameio import client

        # Every Frame.io API exchange becomes a metric row (the client itself stays free of models).
        if metrics.record_api_call not in client.observers:
            client.observers.append(metrics.record_api_call)
