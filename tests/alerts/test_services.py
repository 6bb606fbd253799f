"""Alert writes: acknowledge and resolve (services, admin actions), their history and live events, e-mail."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from alerts.models import Alert, AlertEvent, OutboxMessage
from alerts.rules import Finding, Rule
from alerts.services import alert_acknowledge, alert_fire, alert_resolve, alerts_evaluate, outbox_flush
from postflow.models import LiveEvent
from tests.alerts.conftest import NOW

pytestmark = pytest.mark.django_db


def fire(key: str = "mount", severity: str = "critical") -> Alert:
    alert, _ = alert_fire(rule="mount_unreachable", finding=Finding(key, "Mount gone", "ESTALE", severity), now=NOW)
    return alert


def test_acknowledge_then_resolve_keeps_the_history(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alert = fire()
        assert alert_acknowledge(alert_id=alert.pk, actor="user:ada", now=NOW + timedelta(minutes=1))
        assert not alert_acknowledge(alert_id=alert.pk, actor="user:bob")  # once
        assert alert_resolve(alert_id=alert.pk, actor="rule", note="the condition cleared")
        assert not alert_resolve(alert_id=alert.pk, actor="rule")
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by, alert.resolved_by) == ("resolved", "user:ada", "rule")
    events = [(e.kind, e.actor) for e in alert.events.all()]
    assert events == [("opened", "rule"), ("acknowledged", "user:ada"), ("resolved", "rule")]
    live = [(e.kind, e.payload) for e in LiveEvent.objects.order_by("id")]
    assert live == [
        ("alert.opened", {"alert_id": alert.pk, "level": "bad", "title": "Mount gone", "detail": "ESTALE"}),
        ("alert.closed", {"alert_id": alert.pk, "state": "acknowledged"}),
        ("alert.closed", {"alert_id": alert.pk, "state": "resolved"}),
    ]


def test_an_acknowledged_alert_still_resolves_by_itself_and_dedups():
    rule_on = [True]
    rule = Rule("x", lambda ctx: [Finding("x:1", "X")] if rule_on[0] else [], "")
    alerts_evaluate(now=NOW, rules=[rule], sample=False)
    alert = Alert.objects.get()
    alert_acknowledge(alert_id=alert.pk, actor="user:ada")
    alerts_evaluate(now=NOW + timedelta(minutes=1), rules=[rule], sample=False)
    assert Alert.objects.get().state == "acknowledged"  # still one alert for the key
    rule_on[0] = False
    result = alerts_evaluate(now=NOW + timedelta(minutes=2), rules=[rule], sample=False)
    assert result.resolved == ["x:1"] and Alert.objects.get().state == "resolved"


def test_a_rolled_back_alert_publishes_nothing(django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        fire()
        raise RuntimeError
    assert not Alert.objects.exists() and not LiveEvent.objects.exists()


def test_alerts_go_by_email_through_the_outbox_once(settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALERT_EMAILS = ["ops@example.com", "sup@example.com"]
    settings.ALERT_EMAIL_FROM = "postflow@example.com"
    alert = fire()
    alert_resolve(alert_id=alert.pk, actor="user:ada")
    assert OutboxMessage.objects.filter(channel="email").count() == 2
    assert outbox_flush()["sent"] == 2
    assert outbox_flush()["sent"] == 0
    opened, resolved = mail.outbox
    assert opened.subject == "[postflow] Critical: Mount gone" and opened.to == settings.ALERT_EMAILS
    assert opened.from_email == "postflow@example.com" and "ESTALE" in opened.body
    assert resolved.subject == "[postflow] resolved: Mount gone" and "resolved by user:ada" in resolved.body


def test_an_email_that_fails_is_tried_again(settings, monkeypatch):
    import smtplib

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALERT_EMAILS = ["ops@example.com"]
    fire()
    real_send = mail.EmailMessage.send
    monkeypatch.setattr(
        mail.EmailMessage, "send", lambda self: (_ for _ in ()).throw(smtplib.SMTPConnectError(421, "busy"))
    )
    assert outbox_flush()["not_sent"] == 1
    monkeypatch.setattr(mail.EmailMessage, "send", real_send)
    message = OutboxMessage.objects.get()
    assert message.state == "pending" and message.last_error == "SMTPConnectError"
    assert outbox_flush(now=message.next_attempt_at)["sent"] == 1 and len(mail.outbox) == 1


def test_admin_actions_acknowledge_and_resolve():
    alert, other = fire("a"), fire("b")
    admin = User.objects.create_superuser("boss", password="x")
    client = Client()
    client.force_login(admin)
    url = reverse("admin:alerts_alert_changelist")
    response = client.post(url, {"action": "acknowledge", "_selected_action": [alert.pk]}, follow=True)
    assert "1 alert(s) acknowledged" in response.content.decode()
    client.post(url, {"action": "resolve", "_selected_action": [alert.pk, other.pk]}, follow=True)
    assert set(Alert.objects.values_list("state", flat=True)) == {"resolved"}
    assert AlertEvent.objects.filter(kind="resolved", actor="user:boss").count() == 2
    page = client.get(reverse("admin:alerts_alert_change", args=[alert.pk])).content.decode()
    assert "acknowledged" in page and "user:boss" in page
