"""Alert rules: pure reads that say what is wrong right now, as findings keyed for deduplication.

A rule returns every condition it finds at `ctx.now` (a fake clock in tests); `alerts.services`
opens an alert for a new key, refreshes an open one, and resolves the rule's alerts whose key is no
longer found (auto-resolve). Thresholds are settings (ALERT_*), read at each evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings
from django.db.models import DateTimeField, Max, OuterRef, Subquery
from django.db.models.functions import Coalesce, Greatest

from alerts.models import Metric, Severity
from frameio.models import FrameioConnection, Upload, WebhookDelivery
from ingest.models import Render, SourceClip, WatcherHeartbeat
from shots.models import Shot, ShotEvent
from shots.workflow import Status

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The thresholds, from the settings (docs/alerts.md)."""

    api_window: timedelta
    api_min_calls: int
    api_error_rate: float  # percent
    api_latency_s: float
    upload_window: timedelta
    upload_min_finished: int
    upload_failure_rate: float  # percent
    upload_stuck: timedelta
    process_memory_mb: float
    heartbeat: timedelta
    shot_stale: timedelta
    shot_stale_statuses: tuple[str, ...]
    refresh_token_age: timedelta
    webhook_window: timedelta
    webhook_failures: int
    quarantine_window: timedelta
    quarantine_growth: int
    empty_render: timedelta

    @classmethod
    def from_settings(cls) -> Limits:
        s = settings
        return cls(
            api_window=timedelta(minutes=s.ALERT_API_WINDOW_MINUTES),
            api_min_calls=s.ALERT_API_MIN_CALLS,
            api_error_rate=s.ALERT_API_ERROR_RATE,
            api_latency_s=s.ALERT_API_LATENCY_SECONDS,
            upload_window=timedelta(hours=s.ALERT_UPLOAD_WINDOW_HOURS),
            upload_min_finished=s.ALERT_UPLOAD_MIN_FINISHED,
            upload_failure_rate=s.ALERT_UPLOAD_FAILURE_RATE,
            upload_stuck=timedelta(minutes=s.ALERT_UPLOAD_STUCK_MINUTES),
            process_memory_mb=s.ALERT_PROCESS_MEMORY_MB,
            heartbeat=timedelta(minutes=s.ALERT_HEARTBEAT_MINUTES),
            shot_stale=timedelta(days=s.ALERT_SHOT_STALE_DAYS),
            shot_stale_statuses=tuple(s.ALERT_SHOT_STALE_STATUSES),
            refresh_token_age=timedelta(days=s.ALERT_REFRESH_TOKEN_DAYS),
            webhook_window=timedelta(minutes=s.ALERT_WEBHOOK_WINDOW_MINUTES),
            webhook_failures=s.ALERT_WEBHOOK_FAILURES,
            quarantine_window=timedelta(minutes=s.ALERT_QUARANTINE_WINDOW_MINUTES),
            quarantine_growth=s.ALERT_QUARANTINE_GROWTH,
            empty_render=timedelta(minutes=s.POSTFLOW_EMPTY_ALERT_MINUTES),
        )


@dataclass(frozen=True)
class WebhookFailures:
    failed: int
    latest: str  # the newest failure's event type and outcome


class WebhookSource(Protocol):
    """Where the webhook rule reads failed deliveries (the table, or a fake in tests)."""

    def failures(self, *, since: datetime) -> WebhookFailures: ...


class DeliveryTable:
    """frameio.WebhookDelivery: a delivery whose job failed is `failed` with its `outcome` (the
    review reconciliation tries it again a few times; each failure counts when it happens)."""

    def failures(self, *, since: datetime) -> WebhookFailures:
        failed = WebhookDelivery.objects.filter(state=WebhookDelivery.State.FAILED, processed_at__gte=since)
        latest = failed.order_by("-processed_at").values_list("event_type", "outcome").first()
        return WebhookFailures(failed.count(), f"{latest[0]}: {latest[1]}" if latest else "")


@dataclass(frozen=True)
class Context:
    now: datetime
    limits: Limits
    webhooks: WebhookSource = field(default_factory=DeliveryTable)


@dataclass(frozen=True)
class Finding:
    key: str  # one unresolved alert per key
    title: str
    detail: str = ""
    severity: str = Severity.WARNING


@dataclass(frozen=True)
class Rule:
    name: str
    check: Callable[[Context], list[Finding]]
    description: str


# --- Frame.io API ------------------------------------------------------------------------------------


def _api_calls(ctx: Context) -> list[tuple[float, bool]]:
    since = ctx.now - ctx.limits.api_window
    rows = Metric.objects.filter(name=Metric.API, at__gt=since, at__lte=ctx.now).values_list("value", "ok")
    return list(rows)


def nearest_rank(values: list[float], percent: float) -> float:
    """The smallest value that `percent` % of the values do not exceed (nearest-rank percentile)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def api_error_rate(ctx: Context) -> list[Finding]:
    calls = _api_calls(ctx)
    if len(calls) < ctx.limits.api_min_calls:
        return []
    errors = sum(1 for _, ok in calls if not ok)
    rate = 100 * errors / len(calls)
    if rate <= ctx.limits.api_error_rate:
        return []
    minutes = ctx.limits.api_window.total_seconds() / 60
    severity = Severity.CRITICAL if rate >= 50 else Severity.WARNING
    return [
        Finding(
            "frameio.api.errors",
            f"Frame.io API errors: {rate:.0f} % of calls",
            f"{errors} of {len(calls)} calls failed in the last {minutes:g} min "
            f"(threshold {ctx.limits.api_error_rate:g} %). See manage.py frameio_health.",
            severity,
        )
    ]


def api_latency(ctx: Context) -> list[Finding]:
    calls = _api_calls(ctx)
    if len(calls) < ctx.limits.api_min_calls:
        return []
    p90 = nearest_rank([ms for ms, _ in calls], 90) / 1000
    if p90 <= ctx.limits.api_latency_s:
        return []
    return [
        Finding(
            "frameio.api.latency",
            f"Frame.io API slow: 1 call in 10 takes {p90:.1f} s or more",
            f"90th percentile {p90:.1f} s over {len(calls)} calls (threshold {ctx.limits.api_latency_s:g} s).",
        )
    ]


# --- uploads -----------------------------------------------------------------------------------------


def upload_failure_rate(ctx: Context) -> list[Finding]:
    """Of the uploads that finished in the window (uploaded, or failed for good), the failed share."""
    since = ctx.now - ctx.limits.upload_window
    failed = Upload.objects.filter(state=Upload.State.FAILED, updated_at__gt=since, updated_at__lte=ctx.now).count()
    succeeded = Upload.objects.filter(uploaded_at__gt=since, uploaded_at__lte=ctx.now).count()
    finished = failed + succeeded
    if finished < ctx.limits.upload_min_finished:
        return []
    rate = 100 * failed / finished
    if rate <= ctx.limits.upload_failure_rate:
        return []
    hours = ctx.limits.upload_window.total_seconds() / 3600
    return [
        Finding(
            "uploads.failure_rate",
            f"Uploads failing: {rate:.0f} %",
            f"{failed} of {finished} uploads finished in the last {hours:g} h failed "
            f"(threshold {ctx.limits.upload_failure_rate:g} %). Retry them from the dashboard once fixed.",
            Severity.CRITICAL if rate >= 50 else Severity.WARNING,
        )
    ]


def upload_stuck(ctx: Context) -> list[Finding]:
    """A leased upload whose last progress (a part landing, a state change) is older than the limit.

    Lease renewals do not count: they prove the worker lives, not that bytes move."""
    cutoff = ctx.now - ctx.limits.upload_stuck
    uploads = (
        Upload.objects.filter(
            state__in=[Upload.State.UPLOADING, Upload.State.PROCESSING], lease_until__gt=ctx.now, updated_at__lt=cutoff
        )
        .annotate(last_part=Max("parts__done_at"))
        .annotate(
            last_progress=Greatest(
                "updated_at", Coalesce("last_part", "updated_at"), Coalesce("started_at", "updated_at")
            )
        )
        .filter(last_progress__lt=cutoff)
        .select_related("render")
    )
    findings = []
    for upload in uploads:
        idle = int((ctx.now - upload.last_progress).total_seconds() // 60)
        sent = f"{upload.bytes_done / MB:.0f} of {upload.bytes_total / MB:.0f} MB"
        findings.append(
            Finding(
                f"uploads.stuck:{upload.pk}",
                f"Upload stuck: {upload.render.path}",
                f"{upload.get_state_display()}, {sent}, no progress for {idle} min (attempt {upload.attempts}).",
            )
        )
    return findings


# --- processes ---------------------------------------------------------------------------------------


def process_memory(ctx: Context) -> list[Finding]:
    """The latest sample of each process seen in the last 5 minutes (the schedule samples every minute)."""
    recent = Metric.objects.filter(name=Metric.PROCESS, at__gt=ctx.now - timedelta(minutes=5), at__lte=ctx.now)
    latest: dict[str, float] = {}
    for label, rss in recent.order_by("at").values_list("label", "value"):
        latest[label] = rss
    limit = ctx.limits.process_memory_mb
    return [
        Finding(
            f"process.memory:{label}",
            f"Process {label} uses {rss / MB:.0f} MB",
            f"Resident memory {rss / MB:.0f} MB, above {limit:g} MB (ALERT_PROCESS_MEMORY_MB). "
            "Restarting the process frees it; if it keeps growing, it is a leak worth reporting.",
        )
        for label, rss in sorted(latest.items())
        if rss / MB > limit
    ]


# --- the watcher -------------------------------------------------------------------------------------


def watcher_heartbeat(ctx: Context) -> list[Finding]:
    findings = []
    for hb in WatcherHeartbeat.objects.filter(beat_at__lt=ctx.now - ctx.limits.heartbeat).order_by("name"):
        minutes = int((ctx.now - hb.beat_at).total_seconds() // 60)
        findings.append(
            Finding(
                f"watcher.heartbeat:{hb.name}",
                f"Watcher silent: {hb.name}",
                f"No heartbeat for {minutes} min (from {hb.host}, pid {hb.pid}). Is `manage.py watch` running?",
                Severity.CRITICAL,
            )
        )
    return findings


def mount_unreachable(ctx: Context) -> list[Finding]:
    """A live watcher that reports its root unreachable (a silent one is `watcher_heartbeat`'s)."""
    alive = WatcherHeartbeat.objects.filter(beat_at__gte=ctx.now - ctx.limits.heartbeat, healthy=False)
    return [
        Finding(
            f"watcher.mount:{hb.name}",
            f"Watch root unreachable: {hb.name}",
            hb.detail or "the watcher reports its root unavailable",
            Severity.CRITICAL,
        )
        for hb in alive.order_by("name")
    ]


def quarantine_growing(ctx: Context) -> list[Finding]:
    """Renders quarantined (and still there) that entered the quarantine within the window."""
    since = ctx.now - ctx.limits.quarantine_window
    fresh = Render.objects.filter(state=Render.State.QUARANTINED, updated_at__gt=since, updated_at__lte=ctx.now)
    count = fresh.count()
    if count < ctx.limits.quarantine_growth:
        return []
    total = Render.objects.filter(state=Render.State.QUARANTINED).count()
    examples = "; ".join(f"{path}: {reason[:80]}" for path, reason in fresh.values_list("path", "reason")[:3])
    minutes = ctx.limits.quarantine_window.total_seconds() / 60
    return [
        Finding(
            "ingest.quarantine",
            f"Quarantine growing: {count} renders in {minutes:g} min",
            f"{total} quarantined in all. {examples}",
        )
    ]


def empty_renders(ctx: Context) -> list[Finding]:
    """Renders still 0 bytes a while after their current (empty) stat was first seen: the watcher holds them
    (`ingest.settling.EMPTY_FILE`), and without this nobody would hear of a placeholder whose data never came.
    One alert for all of them, naming the oldest, so that a stuck LucidLink client raises one alert, not fifty."""
    empty = Render.objects.filter(
        state=Render.State.DISCOVERED, size=0, observed_since__lte=ctx.now - ctx.limits.empty_render
    ).order_by("observed_since", "pk")
    paths = list(empty.values_list("path", flat=True)[:5])
    if not paths:
        return []
    count = empty.count()
    minutes = ctx.limits.empty_render.total_seconds() / 60
    more = f" and {count - len(paths)} more" if count > len(paths) else ""
    return [
        Finding(
            "ingest.empty",
            f"{count} render(s) still 0 bytes after {minutes:g} min",
            f"Oldest first: {', '.join(paths)}{more}. A LucidLink placeholder whose data never came (check the "
            "LucidLink client of the machine that wrote it) or an empty file (render it again, or delete it).",
        )
    ]


def source_finding(clip: SourceClip) -> Finding:
    """A clip shots were verified against, gone or changed since (its row says how)."""
    return Finding(
        f"sources.changed:{clip.pk}",
        f"Source {clip.get_problem_display().lower()}: {clip.source_file.name}",
        f"{clip.problem_detail}. Its shots keep their status: restore the file, or take the new one with "
        "`manage.py verify_sources --accept-changed`.",
    )


def source_changed(ctx: Context) -> list[Finding]:
    """Every clip whose problem the sources check left set (it clears it when the file is back, or accepted)."""
    flagged = SourceClip.objects.exclude(problem=SourceClip.Problem.NONE).select_related("source_file")
    return [source_finding(clip) for clip in flagged.order_by("pk")]


# --- shots -------------------------------------------------------------------------------------------


def shot_stale(ctx: Context) -> list[Finding]:
    """Shots in a watched status for longer than the limit, one alert per status."""
    entered = (
        ShotEvent.objects.filter(
            shot=OuterRef("pk"),
            to_status=OuterRef("status"),
            kind__in=[ShotEvent.Kind.TRANSITION, ShotEvent.Kind.OVERRIDE],
        )
        .order_by("-created_at", "-id")
        .values("created_at")[:1]
    )
    stale = (
        Shot.objects.filter(omitted=False, status__in=ctx.limits.shot_stale_statuses)
        .annotate(since=Coalesce(Subquery(entered, output_field=DateTimeField()), "created_at"))
        .filter(since__lt=ctx.now - ctx.limits.shot_stale)
    )
    per_status: dict[str, list[str]] = {}
    for nomenclature, number, status in stale.order_by("since").values_list("nomenclature", "shot_number", "status"):
        per_status.setdefault(status, []).append(nomenclature or f"shot {number}")
    days = ctx.limits.shot_stale.total_seconds() / 86400
    findings = []
    for status, shots in sorted(per_status.items()):
        label = Status(status).label
        shown = ", ".join(shots[:10]) + (f" and {len(shots) - 10} more" if len(shots) > 10 else "")
        findings.append(
            Finding(
                f"shots.stale:{status}",
                f"{len(shots)} shot(s) in {label} for more than {days:g} days",
                f"Oldest first: {shown}.",
                Severity.INFO,
            )
        )
    return findings


# --- Frame.io connection and webhooks ----------------------------------------------------------------


def frameio_connection(ctx: Context) -> list[Finding]:
    conn = FrameioConnection.objects.filter(key=FrameioConnection.SINGLETON_KEY).first()
    if conn is None or not (conn.has_tokens or conn.needs_reauth):
        return []  # never connected: nothing to watch yet
    if conn.needs_reauth:
        return [
            Finding(
                "frameio.reauth",
                "Frame.io needs to be connected again",
                (conn.reauth_reason or "the stored sign-in was refused") + ". Open /frameio/connect/.",
                Severity.CRITICAL,
            )
        ]
    age = conn.refresh_token_age(ctx.now)
    if age is not None and age > ctx.limits.refresh_token_age:
        left = conn.refresh_token_expires_in(ctx.now)
        days_left = max(0.0, left.total_seconds() / 86400) if left is not None else 0.0
        return [
            Finding(
                "frameio.refresh_token",
                "Frame.io sign-in expires soon",
                f"The refresh token is {age.days} days old and expires in about {days_left:.1f} days; "
                "connect again on /frameio/connect/ before it does.",
            )
        ]
    return []


def webhook_failures(ctx: Context) -> list[Finding]:
    stats = ctx.webhooks.failures(since=ctx.now - ctx.limits.webhook_window)
    if stats.failed < ctx.limits.webhook_failures:
        return []
    minutes = ctx.limits.webhook_window.total_seconds() / 60
    return [
        Finding(
            "frameio.webhooks",
            f"Frame.io webhook deliveries failing: {stats.failed} in {minutes:g} min",
            f"Latest: {stats.latest[:500]}" if stats.latest else "",
        )
    ]


RULES: list[Rule] = [
    Rule("api_error_rate", api_error_rate, "Frame.io API error rate above ALERT_API_ERROR_RATE %"),
    Rule("api_latency", api_latency, "Frame.io API 90th-percentile latency above ALERT_API_LATENCY_SECONDS"),
    Rule("upload_failure_rate", upload_failure_rate, "finished uploads failing above ALERT_UPLOAD_FAILURE_RATE %"),
    Rule("upload_stuck", upload_stuck, "a leased upload without progress for ALERT_UPLOAD_STUCK_MINUTES"),
    Rule("process_memory", process_memory, "a postflow process above ALERT_PROCESS_MEMORY_MB"),
    Rule("watcher_heartbeat", watcher_heartbeat, "a watcher silent for ALERT_HEARTBEAT_MINUTES"),
    Rule("mount_unreachable", mount_unreachable, "a watcher reports its root unreachable"),
    Rule("shot_stale", shot_stale, "shots in one status for more than ALERT_SHOT_STALE_DAYS"),
    Rule("frameio_connection", frameio_connection, "Frame.io needs re-authorisation or its refresh token is old"),
    Rule("webhook_failures", webhook_failures, "Frame.io webhook deliveries failing"),
    Rule("quarantine_growing", quarantine_growing, "ALERT_QUARANTINE_GROWTH renders quarantined in the window"),
    Rule("empty_renders", empty_renders, "a render still 0 bytes after POSTFLOW_EMPTY_ALERT_MINUTES"),
    Rule("source_changed", source_changed, "a source clip shots were verified against is gone or changed"),
]
