"""Reads of the alerts app for other pages."""

from alerts.models import Alert

DASHBOARD_LIMIT = 20


def open_alerts(limit: int = DASHBOARD_LIMIT) -> list[Alert]:
    """What the dashboard lists: open (not yet acknowledged) alerts, most severe and newest first."""
    rank = {"critical": 0, "warning": 1, "info": 2}
    alerts = list(Alert.objects.filter(state=Alert.State.OPEN).order_by("-opened_at", "-id")[:limit])
    return sorted(alerts, key=lambda alert: rank.get(alert.severity, 3))
