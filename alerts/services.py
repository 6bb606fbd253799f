"""Every write of the alerts app: alerts and their history, evaluation of the rules, the outbox.

Alerts: a finding opens an alert for its key (or refreshes the unresolved one: deduplication), the
rule's alerts whose key is no longer found are resolved (auto-resolve), and an alert opened within
ALERT_COOLDOWN_MINUTES of the key's previous notification is recorded and shown but not sent out;
if it is still open and found once the cooldown has ended, its opening is sent then.

Outbox (docs/alerts.md, "Delivery guarantee"): a message is claimed with a conditional UPDATE that
commits before the network call, and marked with the same claim token after it. A message is sent
again only when the previous attempt provably created nothing; when the outcome is unknown (a crash
between send and mark, a lost answer) it becomes `unconfirmed` and is never resent automatically.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django_q.tasks import async_task

from alerts import metrics
from alerts.models import Alert, AlertEvent, DiscordTarget, OutboxMessage
from alerts.notifiers import Outcome, Result, discord, email
from alerts.rules import RULES, Context, Finding, Limits, Rule, WebhookSource
from postflow import realtime

logger = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)  # far above one send (20 s timeouts + up to 3 waits of 30 s on 429)
MAX_RATE_LIMIT_WAIT = 30.0  # a longer retry_after releases the message with next_attempt_at instead
RATE_LIMIT_TRIES = 3
HELD_FOR = timedelta(hours=1)  # a message whose webhook is disabled is looked at again after this
BATCH = 100


# --- alerts ----------------------------------------------------------------------------------------


def _payload(alert: Alert) -> dict:
    return {"alert_id": alert.pk, "level": alert.level, "title": alert.title, "detail": alert.detail[:500]}


def _in_cooldown(key: str, now: datetime) -> bool:
    """The key's previous notification (an opening or a resolution that went out) was recent."""
    last = Alert.objects.filter(key=key, notified=True).aggregate(opened=Max("opened_at"), resolved=Max("resolved_at"))
    latest = max((t for t in last.values() if t is not None), default=None)
    return latest is not None and now - latest < timedelta(minutes=settings.ALERT_COOLDOWN_MINUTES)


@transaction.atomic
def alert_fire(*, rule: str, finding: Finding, now: datetime | None = None) -> tuple[Alert, bool]:
    """Open an alert for the finding, or refresh the unresolved one with its key. Returns (alert, opened)."""
    now = now or timezone.now()
    existing = Alert.objects.filter(key=finding.key, state__in=Alert.UNRESOLVED).first()
    if existing is not None:
        Alert.objects.filter(pk=existing.pk).update(
            last_seen_at=now,
            occurrences=F("occurrences") + 1,
            title=finding.title[:255],
            detail=finding.detail,
            severity=finding.severity,
        )
        if not existing.notified and existing.state == Alert.State.OPEN:
            _notify_late(existing.pk, finding.key, now)
        return existing, False
    notified = not _in_cooldown(finding.key, now)
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                key=finding.key,
                rule=rule,
                severity=finding.severity,
                title=finding.title[:255],
                detail=finding.detail,
                notified=notified,
                opened_at=now,
                last_seen_at=now,
            )
    except IntegrityError:  # a concurrent evaluation (alerts_check during the schedule) opened it first
        return Alert.objects.get(key=finding.key, state__in=Alert.UNRESOLVED), False
    note = finding.detail if notified else f"{finding.detail} (within the cooldown: not sent out)".strip()
    AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.OPENED, actor="rule", note=note, at=now)
    realtime.publish("alert.opened", _payload(alert))
    if notified:
        from alerts import notify

        notify.alert_opened(alert)
    logger.warning("alert opened: %s (%s)%s", alert.title, alert.key, "" if notified else " [cooldown: not sent]")
    return alert, True


def _notify_late(alert_id: int, key: str, now: datetime) -> None:
    """An open alert opened within the cooldown (not sent) that is still found once the cooldown has
    ended is news after all: send its opening now, once (a compare-and-set on `notified`)."""
    if _in_cooldown(key, now):
        return
    if not Alert.objects.filter(pk=alert_id, state=Alert.State.OPEN, notified=False).update(notified=True):
        return  # acknowledged, resolved or sent meanwhile by a concurrent evaluation
    alert = Alert.objects.get(pk=alert_id)
    from alerts import notify

    notify.alert_opened(alert)
    logger.warning("alert still firing after the cooldown, sent out: %s (%s)", alert.title, alert.key)


@transaction.atomic
def alert_acknowledge(*, alert_id: int, actor: str, now: datetime | None = None) -> bool:
    """A person has seen it: off the dashboard's list, still tracked until it resolves."""
    now = now or timezone.now()
    done = Alert.objects.filter(pk=alert_id, state=Alert.State.OPEN).update(
        state=Alert.State.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=actor[:150]
    )
    if done:
        AlertEvent.objects.create(alert_id=alert_id, kind=AlertEvent.Kind.ACKNOWLEDGED, actor=actor, at=now)
        realtime.publish("alert.closed", {"alert_id": alert_id, "state": Alert.State.ACKNOWLEDGED})
    return bool(done)


@transaction.atomic
def alert_resolve(*, alert_id: int, actor: str, note: str = "", now: datetime | None = None) -> bool:
    """Resolved by its rule (the condition cleared) or by a person. If the condition still holds,
    the next evaluation opens a new alert (within the cooldown, not sent out)."""
    now = now or timezone.now()
    done = Alert.objects.filter(pk=alert_id, state__in=Alert.UNRESOLVED).update(
        state=Alert.State.RESOLVED, resolved_at=now, resolved_by=actor[:150]
    )
    if not done:
        return False
    alert = Alert.objects.get(pk=alert_id)
    AlertEvent.objects.create(alert=alert, kind=AlertEvent.Kind.RESOLVED, actor=actor, note=note, at=now)
    realtime.publish("alert.closed", {"alert_id": alert_id, "state": Alert.State.RESOLVED})
    if alert.notified:
        from alerts import notify

        notify.alert_resolved(alert)
    logger.info("alert resolved by %s: %s (%s)", actor, alert.title, alert.key)
    return True


@dataclass
class Evaluation:
    opened: list[str] = field(default_factory=list)  # keys
    resolved: list[str] = field(default_factory=list)
    firing: list[str] = field(default_factory=list)  # every key found, new or not
    errors: dict[str, str] = field(default_factory=dict)  # rule -> why it could not run

    def as_dict(self) -> dict:
        return {"opened": self.opened, "resolved": self.resolved, "firing": self.firing, "errors": self.errors}


def alerts_evaluate(
    *,
    now: datetime | None = None,
    rules: list[Rule] | None = None,
    sample: bool = True,
    webhooks: WebhookSource | None = None,
) -> Evaluation:
    """Sample the gauges, run every rule, open / refresh / resolve alerts, prune old metrics.

    A rule that raises is reported and its alerts left as they are (no auto-resolve on an error).
    """
    now = now or timezone.now()
    if sample:
        _sample(now)
    ctx = Context(now=now, limits=Limits.from_settings(), **({"webhooks": webhooks} if webhooks else {}))
    result = Evaluation()
    for rule in RULES if rules is None else rules:
        try:
            findings = rule.check(ctx)
        except Exception as exc:
            logger.exception("alert rule %s failed; its alerts are left as they are", rule.name)
            result.errors[rule.name] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        _apply(rule, findings, now, result)
    metrics.prune(now=now)
    return result


def _sample(now: datetime) -> None:
    for sampler in (metrics.sample_processes, metrics.sample_queue):
        try:
            sampler(now=now)
        except Exception:
            logger.exception("sampling %s failed", sampler.__name__)


def _apply(rule: Rule, findings: list[Finding], now: datetime, result: Evaluation) -> None:
    keys = set()
    for finding in findings:
        if finding.key in keys:
            continue
        keys.add(finding.key)
        _, opened = alert_fire(rule=rule.name, finding=finding, now=now)
        result.firing.append(finding.key)
        if opened:
            result.opened.append(finding.key)
    cleared = Alert.objects.filter(rule=rule.name, state__in=Alert.UNRESOLVED).exclude(key__in=keys)
    for alert_id, key in cleared.values_list("pk", "key"):
        if alert_resolve(alert_id=alert_id, actor="rule", note="the condition cleared", now=now):
            result.resolved.append(key)


# --- the outbox: queueing --------------------------------------------------------------------------


def discord_url(kind: str) -> str:
    """The webhook for a kind of message: its own, else DISCORD_WEBHOOK_URL; empty when switched off."""
    if not settings.ENABLE_DISCORD_NOTIFICATIONS or not settings.DISCORD_NOTIFY.get(kind, False):
        return ""
    return settings.DISCORD_WEBHOOK_URLS.get(kind) or settings.DISCORD_WEBHOOK_URL


def outbox_queue(*, kind: str, key: str, discord_body: dict | None = None, mail: dict | None = None) -> list[int]:
    """Queue a notification once per channel that is on (dedupe by `key`), sent after commit.

    `discord_body` is the webhook JSON, `mail` {"subject", "body"}; returns the new message ids.
    """
    wanted = []
    if discord_body is not None and discord_url(kind):
        wanted.append((OutboxMessage.Channel.DISCORD, discord_body))
    if mail is not None and settings.ALERT_EMAILS:
        wanted.append((OutboxMessage.Channel.EMAIL, mail))
    created = []
    for channel, payload in wanted:
        try:
            with transaction.atomic():
                message, new = OutboxMessage.objects.get_or_create(
                    dedupe_key=f"{channel}:{key}"[:200],
                    defaults={"channel": channel, "kind": kind, "payload": payload, "created_at": timezone.now()},
                )
        except IntegrityError:
            continue  # queued concurrently by someone else: once is enough
        if new:
            created.append(message.pk)
            transaction.on_commit(partial(async_task, "alerts.tasks.outbox_send", message.pk), robust=True)
    return created


# --- the outbox: sending ---------------------------------------------------------------------------


def _claim(message_id: int, token: str, now: datetime) -> bool:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return bool(
        OutboxMessage.objects.filter(due, pk=message_id, state=OutboxMessage.State.PENDING).update(
            state=OutboxMessage.State.SENDING, claim=token, claimed_at=now, attempts=F("attempts") + 1
        )
    )


def _mark_sent(message_id: int, token: str, outcome: Outcome, now: datetime) -> bool:
    # By claim token, not by state: if the reaper already called it unconfirmed, the truth wins.
    return bool(
        OutboxMessage.objects.filter(pk=message_id, claim=token).update(
            state=OutboxMessage.State.SENT, sent_at=now, remote_id=outcome.remote_id, claim="", last_error=""
        )
    )


def _release(message_id: int, token: str, *, state: str, error: str, next_attempt_at: datetime | None = None) -> None:
    OutboxMessage.objects.filter(pk=message_id, claim=token).update(
        state=state, claim="", last_error=error[:1000], next_attempt_at=next_attempt_at
    )


def outbox_send(
    *,
    message_id: int,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: datetime | None = None,
) -> Outcome | None:
    """Send one message if this caller can claim it (None: someone else has it, or it is not due)."""
    token = uuid.uuid4().hex
    if not _claim(message_id, token, now or timezone.now()):
        return None
    message = OutboxMessage.objects.get(pk=message_id)
    try:
        outcome = _deliver(message, session or _session(), sleep)
    except Exception as exc:  # our own bug, before or after the request: we cannot tell, so never resend
        logger.exception("outbox message %s: sending failed unexpectedly", message_id)
        outcome = Outcome(Result.UNKNOWN, f"{type(exc).__name__} while sending")
    _finish(message, token, outcome, now or timezone.now())
    return outcome


def _deliver(message: OutboxMessage, session: requests.Session, sleep: Callable[[float], None]) -> Outcome:
    if message.channel == OutboxMessage.Channel.EMAIL:
        return email.send(message.payload)
    url = discord_url(message.kind)
    if not url:
        return Outcome(Result.REJECTED, f"Discord notifications for {message.kind} are switched off or have no URL")
    target = _target(url, message.kind)
    if target.disabled:
        return Outcome(Result.GONE, f"webhook {target} disabled: {target.disabled_reason}")
    OutboxMessage.objects.filter(pk=message.pk).update(target=target.fingerprint)
    for attempt in range(1, RATE_LIMIT_TRIES + 1):
        outcome = discord.post(url, message.payload, session=session)
        if outcome.retry_after is None or outcome.retry_after > MAX_RATE_LIMIT_WAIT or attempt == RATE_LIMIT_TRIES:
            break
        logger.info("outbox message %s: Discord rate limit, waiting %.2f s", message.pk, outcome.retry_after)
        sleep(outcome.retry_after)
    if outcome.result == Result.GONE:
        _disable(target, outcome.detail)
    elif outcome.result == Result.SENT:
        DiscordTarget.objects.filter(pk=target.pk).update(last_sent_at=timezone.now())
    return outcome


def _target(url: str, kind: str) -> DiscordTarget:
    target, _ = DiscordTarget.objects.get_or_create(
        fingerprint=discord.fingerprint(url), defaults={"webhook_id": discord.webhook_id(url), "kinds": kind}
    )
    if kind not in target.kinds.split(","):
        target.kinds = ",".join(filter(None, [*target.kinds.split(","), kind]))[:100]
        DiscordTarget.objects.filter(pk=target.pk).update(kinds=target.kinds)
    return target


def _disable(target: DiscordTarget, reason: str) -> None:
    if DiscordTarget.objects.filter(pk=target.pk, disabled_at__isnull=True).update(
        disabled_at=timezone.now(), disabled_reason=reason[:300]
    ):
        logger.error("Discord %s disabled (%s): set a new webhook URL for %s", target, reason, target.kinds)


def _finish(message: OutboxMessage, token: str, outcome: Outcome, now: datetime) -> None:
    state = OutboxMessage.State
    if outcome.result == Result.SENT:
        _mark_sent(message.pk, token, outcome, now)
    elif outcome.result == Result.RETRY:
        wait = outcome.retry_after or min(1800, 30 * 2 ** (message.attempts - 1))
        _release(
            message.pk, token, state=state.PENDING, error=outcome.detail, next_attempt_at=now + timedelta(seconds=wait)
        )
    elif outcome.result == Result.GONE:
        # Nothing was created: the message waits for a working webhook (a new URL is a new target).
        _release(message.pk, token, state=state.PENDING, error=outcome.detail, next_attempt_at=now + HELD_FOR)
    elif outcome.result == Result.REJECTED:
        _release(message.pk, token, state=state.FAILED, error=outcome.detail)
    else:
        _release(message.pk, token, state=state.UNCONFIRMED, error=f"{outcome.detail}: may have been delivered")
    if outcome.result != Result.SENT:
        logger.warning("outbox message %s (%s %s): %s", message.pk, message.channel, message.kind, outcome.detail)


def outbox_reap(*, now: datetime | None = None) -> int:
    """Claims older than CLAIM_TIMEOUT belong to a sender that died between send and mark: the
    message may have gone out, so it becomes unconfirmed (a person may send it again from the admin)."""
    stale = (now or timezone.now()) - CLAIM_TIMEOUT
    return OutboxMessage.objects.filter(state=OutboxMessage.State.SENDING, claimed_at__lt=stale).update(
        state=OutboxMessage.State.UNCONFIRMED,
        last_error="the sender stopped between sending and recording (crash?): not sent again automatically",
    )


def outbox_flush(
    *, now: datetime | None = None, session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep
) -> dict[str, int]:
    """The schedule's job: reap dead claims, then send what is due, oldest first."""
    now = now or timezone.now()
    reaped = outbox_reap(now=now)
    due = OutboxMessage.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), state=OutboxMessage.State.PENDING
    ).order_by("id")
    session = session or _session()
    counts = {"reaped": reaped, "sent": 0, "not_sent": 0}
    for message_id in list(due.values_list("pk", flat=True)[:BATCH]):
        outcome = outbox_send(message_id=message_id, session=session, sleep=sleep, now=now)
        if outcome is None:
            continue
        counts["sent" if outcome.result == Result.SENT else "not_sent"] += 1
        if outcome.pause:
            sleep(min(outcome.pause, MAX_RATE_LIMIT_WAIT))
    return counts


@transaction.atomic
def outbox_requeue(*, message_id: int, actor: str) -> bool:
    """A person's decision to send an unconfirmed or failed message again (it may then arrive twice)."""
    done = OutboxMessage.objects.filter(
        pk=message_id, state__in=[OutboxMessage.State.UNCONFIRMED, OutboxMessage.State.FAILED]
    ).update(state=OutboxMessage.State.PENDING, claim="", next_attempt_at=None, last_error=f"requeued by {actor}")
    if done:
        transaction.on_commit(partial(async_task, "alerts.tasks.outbox_send", message_id), robust=True)
    return bool(done)


def discord_target_enable(*, target_id: int) -> bool:
    """Enable a webhook again (e.g. its channel was restored); held messages go out on the next flush."""
    return bool(
        DiscordTarget.objects.filter(pk=target_id, disabled_at__isnull=False).update(
            disabled_at=None, disabled_reason=""
        )
    )


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "postflow (+discord webhooks)"
    return session
