"""The dashboard's Alerts card: open alerts listed, acknowledged with a POST (staff, CSRF)."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from alerts.models import Alert
from alerts.rules import Finding
from alerts.services import alert_fire
from postflow.models import LiveEvent
from tests.alerts.conftest import NOW

pytestmark = pytest.mark.django_db


def client_for(username: str, *, staff: bool = True, csrf: bool = False, allowed: bool = True) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    user = User.objects.create_user(username, password="x", is_staff=staff)
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="change_alert", content_type__app_label="alerts"))
    client.force_login(user)
    return client


@pytest.fixture
def alert() -> Alert:
    alert, _ = alert_fire(rule="mount_unreachable", finding=Finding("m", "Mount gone", "ESTALE", "critical"), now=NOW)
    return alert


def test_open_alerts_are_listed_with_an_acknowledge_button(alert):
    html = client_for("sup").get(reverse("dashboard:index")).content.decode()
    assert f'data-alert-id="{alert.pk}"' in html and 'class="bad"' in html and "Mount gone" in html
    assert reverse("dashboard:acknowledge-alert", args=[alert.pk]) in html
    assert 'data-panel="alerts"' in html  # refreshed, so live-added alerts get their button
    panel = client_for("sup2").get(reverse("dashboard:panel-alerts")).content.decode()
    assert "Mount gone" in panel and "csrfmiddlewaretoken" in panel
    # Without alerts.change_alert the alert is shown, the button (which would answer 403) is not.
    panel = client_for("staff-only", allowed=False).get(reverse("dashboard:panel-alerts")).content.decode()
    assert "Mount gone" in panel and ">Acknowledge</button>" not in panel


def test_acknowledge_is_a_staff_post_with_csrf(alert, django_capture_on_commit_callbacks):
    url = reverse("dashboard:acknowledge-alert", args=[alert.pk])
    assert client_for("viewer", staff=False).post(url).status_code == 302  # to the login page
    staff = client_for("sup")
    assert client_for("staff-only", allowed=False).post(url).status_code == 403  # needs alerts.change_alert
    assert staff.get(url).status_code == 405
    assert client_for("nocsrf", csrf=True).post(url).status_code == 403
    assert Alert.objects.get().state == "open"
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(url, follow=True)
    assert "Mount gone: acknowledged" in response.content.decode()
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == ("acknowledged", "user:sup")
    assert LiveEvent.objects.filter(kind="alert.closed").get().payload == {
        "alert_id": alert.pk,
        "state": "acknowledged",
    }
    assert "No open alert." in staff.get(reverse("dashboard:panel-alerts")).content.decode()
    assert "is not open" in staff.post(url, follow=True).content.decode()
    assert staff.post(reverse("dashboard:acknowledge-alert", args=[alert.pk + 99])).status_code == 404
