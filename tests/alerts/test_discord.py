"""Discord through the outbox, against `responses`: payload shape, 429, 404, outages, exactly once."""

import json
import logging
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from django_q.models import OrmQ
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError

from alerts import notify, services
from alerts.models import Alert, DiscordTarget, OutboxMessage
from alerts.notifiers import Result
from alerts.notifiers.discord import body, embed
from alerts.services import CLAIM_TIMEOUT, outbox_flush, outbox_queue, outbox_send
from postflow.lib.redaction import RedactDiscordWebhooks
from tests.alerts.conftest import TOKEN, URL, discord_messages

pytestmark = pytest.mark.django_db
WAIT = [matchers.query_param_matcher({"wait": "true"})]
State = OutboxMessage.State


def queue(kind: str = "alerts", key: str = "test:1", title: str = "Hello") -> int:
    [message_id] = outbox_queue(kind=kind, key=key, discord_body=body(embed(title=title, color="info")))
    return message_id


def refused() -> requests.ConnectionError:
    """What requests raises when nothing listens: the request never left."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, URL, reason))


def test_the_payload_is_a_rich_embed_that_mentions_nobody(discord, rsps):
    rsps.post(URL, json={"id": "111"}, match=WAIT)
    message_id = queue(title="x" * 300)
    outcome = outbox_send(message_id=message_id)
    assert outcome.result == Result.SENT
    sent = json.loads(rsps.calls[0].request.body)
    assert sent["username"] == "postflow"
    assert sent["allowed_mentions"] == {"parse": []}  # a note saying @everyone pings nobody
    [card] = sent["embeds"]
    assert len(card["title"]) == 256 and card["title"].endswith("…")  # Discord's limit, cut visibly
    assert card["color"] == 0x0969DA and card["footer"] == {"text": "postflow"}
    message = OutboxMessage.objects.get(pk=message_id)
    assert (message.state, message.remote_id, message.attempts) == (State.SENT, "111", 1)
    assert message.sent_at is not None and message.claim == ""


def test_a_render_uploaded_carries_the_frameio_link(discord, rsps, shot_upload):
    rsps.post(URL, json={"id": "222"}, match=WAIT)
    [message_id] = notify.render_uploaded(upload_id=shot_upload.pk)
    outbox_send(message_id=message_id)
    [card] = json.loads(rsps.calls[0].request.body)["embeds"]
    assert card["title"] == "UNDLM_00042 v003 uploaded for review"
    assert card["url"] == "https://next.frame.io/project/p1/view/f1"
    assert "[Open in Frame.io](https://next.frame.io/project/p1/view/f1)" in card["description"]
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert fields["Scene"] == "01 REVEIL" and fields["Size"] == "20 MB" and fields["Took"] == "40 s"
    # Queued once per upload completion, however often the hook runs.
    assert notify.render_uploaded(upload_id=shot_upload.pk) == []


def test_429_retry_after_is_honoured_then_the_message_goes(discord, rsps):
    rsps.post(
        URL,
        status=429,
        json={"message": "You are being rate limited.", "retry_after": 1.5, "global": False},
        headers={"Retry-After": "2"},
        match=WAIT,
    )
    rsps.post(URL, json={"id": "333"}, match=WAIT)
    slept: list[float] = []
    outcome = outbox_send(message_id=queue(), sleep=slept.append)
    assert slept == [1.5]  # the body's precise retry_after, not the header's rounded one
    assert outcome.result == Result.SENT and outcome.remote_id == "333"
    assert len(rsps.calls) == 2


def test_a_long_429_releases_the_message_until_retry_after(discord, rsps):
    rsps.post(URL, status=429, json={"retry_after": 120.0, "global": True}, match=WAIT)
    slept: list[float] = []
    now = timezone.now()
    message_id = queue()
    outbox_send(message_id=message_id, sleep=slept.append, now=now)
    message = OutboxMessage.objects.get(pk=message_id)
    assert slept == [] and message.state == State.PENDING
    assert message.next_attempt_at == now + timedelta(seconds=120)
    assert outbox_send(message_id=message_id, now=now + timedelta(seconds=60)) is None  # not due: not even tried
    rsps.post(URL, json={"id": "444"}, match=WAIT)
    assert outbox_send(message_id=message_id, now=now + timedelta(seconds=121)).result == Result.SENT


def test_404_disables_the_target_and_holds_its_messages_for_a_new_url(discord, rsps, settings):
    rsps.post(URL, status=404, json={"message": "Unknown Webhook", "code": 10015}, match=WAIT)
    now = timezone.now()
    first, second = queue(key="a"), queue(key="b")
    assert outbox_send(message_id=first, now=now).result == Result.GONE
    target = DiscordTarget.objects.get()
    assert target.disabled and "Unknown Webhook" in target.disabled_reason and target.webhook_id == "1234567890"
    assert TOKEN not in target.disabled_reason + target.fingerprint
    outbox_flush(now=now)  # the second message is not even tried against a disabled webhook
    assert len(rsps.calls) == 1
    assert {m.state for m in discord_messages()} == {State.PENDING}
    # A new webhook URL is a new target: the held messages go out there, each once.
    new_url = "https://discord.com/api/webhooks/999/another-token"
    settings.DISCORD_WEBHOOK_URL = new_url
    rsps.post(new_url, json={"id": "n1"}, match=WAIT)
    rsps.post(new_url, json={"id": "n2"}, match=WAIT)
    assert outbox_flush(now=now + timedelta(hours=2))["sent"] == 2
    assert [m.remote_id for m in discord_messages()] == ["n1", "n2"]
    assert OutboxMessage.objects.get(pk=second).attempts == 2  # held once, then sent
    assert DiscordTarget.objects.filter(disabled_at__isnull=True).count() == 1


def test_a_discord_outage_loses_nothing(discord, rsps):
    rsps.post(URL, body=refused(), match=WAIT)
    rsps.post(URL, status=503, json={"message": "Service Unavailable"}, match=WAIT)
    rsps.post(URL, json={"id": "555"}, match=WAIT)
    message_id = queue()
    now = timezone.now()
    outbox_send(message_id=message_id, now=now)
    message = OutboxMessage.objects.get(pk=message_id)
    assert (message.state, message.next_attempt_at) == (State.PENDING, now + timedelta(seconds=30))
    assert outbox_flush(now=now + timedelta(seconds=31))["not_sent"] == 1
    assert outbox_flush(now=now + timedelta(minutes=5))["sent"] == 1
    assert outbox_flush(now=now + timedelta(hours=1)) == {"reaped": 0, "sent": 0, "not_sent": 0}
    message.refresh_from_db()
    assert (message.state, message.remote_id, message.attempts) == (State.SENT, "555", 3)


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "json": {"message": "Internal Server Error"}},
        {"status": 504, "body": "gateway timeout"},
        {"body": requests.ReadTimeout("read timed out")},
    ],
    ids=["500", "504", "read-timeout"],
)
def test_an_answer_that_may_hide_a_created_message_is_never_resent(discord, rsps, answer):
    rsps.post(URL, match=WAIT, **answer)
    message_id = queue()
    assert outbox_send(message_id=message_id).result == Result.UNKNOWN
    assert outbox_flush(now=timezone.now() + timedelta(days=1))["sent"] == 0
    message = OutboxMessage.objects.get(pk=message_id)
    assert message.state == State.UNCONFIRMED and "may have been delivered" in message.last_error
    assert len(rsps.calls) == 1


def test_a_job_delivered_twice_sends_once(discord, rsps):
    rsps.post(URL, json={"id": "666"}, match=WAIT)
    message_id = queue()
    assert outbox_send(message_id=message_id).result == Result.SENT
    assert outbox_send(message_id=message_id) is None  # django-q2 delivered the job again
    assert outbox_flush()["sent"] == 0
    assert len(rsps.calls) == 1


def test_a_crash_between_send_and_mark_never_sends_twice(discord, rsps, monkeypatch):
    """The worker dies after Discord created the message and before the row says so."""
    rsps.post(URL, json={"id": "777"}, match=WAIT)
    message_id = queue()

    def die(*args, **kwargs):
        raise SystemExit("kill -9 between send and mark")

    monkeypatch.setattr(services, "_mark_sent", die)
    with pytest.raises(SystemExit):
        outbox_send(message_id=message_id)
    monkeypatch.undo()
    assert OutboxMessage.objects.get(pk=message_id).state == State.SENDING
    # The worker restarts; the job is delivered again, the schedule flushes, before and after the claim expires.
    now = timezone.now()
    assert outbox_send(message_id=message_id) is None
    assert outbox_flush(now=now)["sent"] == 0
    assert outbox_flush(now=now + CLAIM_TIMEOUT + timedelta(minutes=1)) == {"reaped": 1, "sent": 0, "not_sent": 0}
    assert outbox_flush(now=now + timedelta(days=1))["sent"] == 0
    assert len(rsps.calls) == 1  # exactly one POST: the message exists once in the channel
    message = OutboxMessage.objects.get(pk=message_id)
    assert message.state == State.UNCONFIRMED and "not sent again automatically" in message.last_error


def test_a_sender_that_finishes_after_the_reaper_still_records_the_truth(discord, rsps, monkeypatch):
    rsps.post(URL, json={"id": "888"}, match=WAIT)
    message_id = queue()
    real_post = services.discord.post

    def slow_post(url, payload, *, session):
        services.outbox_reap(now=timezone.now() + CLAIM_TIMEOUT * 2)  # the reaper runs while we wait
        return real_post(url, payload, session=session)

    monkeypatch.setattr(services.discord, "post", slow_post)
    outbox_send(message_id=message_id)
    message = OutboxMessage.objects.get(pk=message_id)
    assert (message.state, message.remote_id) == (State.SENT, "888")


def test_switches_and_routing(settings, rsps):
    settings.DISCORD_WEBHOOK_URL = URL
    alerts_url = "https://discord.com/api/webhooks/42/alerts-token"
    settings.DISCORD_WEBHOOK_URLS = {**settings.DISCORD_WEBHOOK_URLS, "alerts": alerts_url}
    rsps.post(alerts_url, json={"id": "a1"}, match=WAIT)
    rsps.post(URL, json={"id": "r1"}, match=WAIT)
    outbox_send(message_id=queue(kind="alerts", key="k1"))
    outbox_send(message_id=queue(kind="renders", key="k2"))
    assert [call.request.url.split("?")[0] for call in rsps.calls] == [alerts_url, URL]
    settings.DISCORD_NOTIFY = {**settings.DISCORD_NOTIFY, "digest": False}
    assert outbox_queue(kind="digest", key="k3", discord_body={}) == []
    settings.ENABLE_DISCORD_NOTIFICATIONS = False
    assert outbox_queue(kind="alerts", key="k4", discord_body={}) == []
    assert OutboxMessage.objects.count() == 2


def test_the_webhook_url_never_reaches_logs_rows_or_tasks(discord, rsps, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    rsps.post(URL, body=refused(), match=WAIT)
    rsps.post(
        URL, body=requests.ReadTimeout(f"HTTPSConnectionPool: Read timed out. (url: {URL}?wait=true)"), match=WAIT
    )
    with django_capture_on_commit_callbacks(execute=True):
        first, second = queue(key="a"), queue(key="b")
    now = timezone.now()
    outbox_send(message_id=first, now=now)
    outbox_send(message_id=second, now=now)
    stored = json.dumps([*OutboxMessage.objects.values(), *DiscordTarget.objects.values()], default=str)
    tasks = " ".join(str(task.task) for task in OrmQ.objects.all())
    assert "alerts.tasks.outbox_send" in tasks
    for text in (stored, tasks, caplog.text):
        assert TOKEN not in text
    assert "ReadTimeout" in caplog.text  # the failure is logged, by its kind only


def test_a_webhook_url_that_slips_into_a_log_line_is_blanked(caplog):
    [console] = [
        h for h in logging.getLogger().handlers if any(isinstance(f, RedactDiscordWebhooks) for f in h.filters)
    ]
    try:
        raise requests.ConnectionError(f"Max retries exceeded with url: /api/webhooks/1234567890/{TOKEN}?wait=true")
    except requests.ConnectionError:
        logging.getLogger("some.library").exception("posting to %s failed", URL)
    [record] = [r for r in caplog.records if r.name == "some.library"]
    assert console.filter(record)
    text = console.format(record)
    assert TOKEN not in text and text.count("[discord webhook]") == 2


def test_alert_messages_are_coloured_by_severity(discord, rsps):
    rsps.post(URL, json={"id": "c1"}, match=WAIT)
    rsps.post(URL, json={"id": "c2"}, match=WAIT)
    alert = Alert.objects.create(
        key="k", rule="r", severity="critical", title="Mount gone", detail="EIO", opened_at=timezone.now(),
        last_seen_at=timezone.now(), notified=True,
    )  # fmt: skip
    [opened] = notify.alert_opened(alert)
    alert.resolved_at, alert.resolved_by = timezone.now(), "rule"
    [resolved] = notify.alert_resolved(alert)
    outbox_send(message_id=opened)
    outbox_send(message_id=resolved)
    cards = [json.loads(call.request.body)["embeds"][0] for call in rsps.calls]
    assert (cards[0]["title"], cards[0]["color"], cards[0]["description"]) == ("Critical: Mount gone", 0xCF222E, "EIO")
    assert cards[1]["title"] == "Resolved: Mount gone" and cards[1]["color"] == 0x2E7D32
    assert cards[1]["description"].startswith("the condition cleared")
