"""The performance report (`manage.py postflow_report`): what the metrics say over a period, the
errors by kind, and rule-based recommendations. Read-only, except for the files it writes."""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from alerts.models import Alert, Metric, OutboxMessage
from delivery.models import Delivery
from frameio.models import Upload, WebhookDelivery
from ingest.models import Render

MB = 1_000_000  # rates in MB/s (decimal), like the dashboard
MIB = 1024 * 1024  # memory in MB (binary), like the memory alert
PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
# Below this size an upload's rate measures Frame.io's per-file round trips (create, part URLs, completion),
# not the link: such uploads are counted, but give no rate, and so never advise more concurrency.
RATE_MIN_BYTES = 50 * MB
# The long-running processes (alerts.metrics role names). A one-shot command that sampled itself (alerts_check)
# has exited by the time anyone reads the report: it is left out.
SERVICES = ("web", "qcluster", "watch", "honcho", "runserver")
# A service not sampled for this long before the period's end has stopped (or been restarted under a new pid).
STOPPED_AFTER = timedelta(minutes=5)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_period(text: str) -> timedelta:
    """'24h', '90m', '7d', '1w', '30s' -> timedelta; ValueError otherwise."""
    match = PERIOD.match(text or "")
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{text!r} is not a period such as 24h, 90m, 7d or 1w")
    return timedelta(**{UNITS[match[2]]: float(match[1])})


def _stats(values: list[float]) -> dict:
    if not values:
        return {"mean": None, "median": None, "p95": None}
    p95 = statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]
    return {
        "mean": round(statistics.fmean(values), 1),
        "median": round(statistics.median(values), 1),
        "p95": round(p95, 1),
    }


def _rows(name: str, start: datetime, end: datetime):
    return Metric.objects.filter(name=name, at__gt=start, at__lte=end)


def api_section(start: datetime, end: datetime) -> dict:
    rows = list(_rows(Metric.API, start, end).values_list("label", "status", "value", "ok"))
    ok = sum(1 for *_, good in rows if good)
    per_endpoint: dict[str, list] = defaultdict(list)
    for label, _, ms, good in rows:
        per_endpoint[label].append((ms, good))
    endpoints = sorted(
        (
            {
                "endpoint": label,
                "calls": len(calls),
                "errors": sum(1 for _, good in calls if not good),
                "median_ms": round(statistics.median(ms for ms, _ in calls), 1),
            }
            for label, calls in per_endpoint.items()
        ),
        key=lambda e: (-e["calls"], e["endpoint"]),
    )
    statuses = Counter(status for _, status, _, good in rows if not good)
    return {
        "calls": len(rows),
        "succeeded": ok,
        "success_rate": round(100 * ok / len(rows), 2) if rows else None,
        "latency_ms": _stats([ms for _, _, ms, _ in rows]),
        "errors_by_status": {("no response" if not s else str(s)): n for s, n in sorted(statuses.items())},
        "endpoints": endpoints[:15],
    }


def uploads_section(start: datetime, end: datetime) -> dict:
    rows = list(_rows(Metric.UPLOAD, start, end).values_list("value", "amount"))
    rates = [size / seconds / MB for size, seconds in rows if seconds and seconds > 0 and size >= RATE_MIN_BYTES]
    failed = Upload.objects.filter(state=Upload.State.FAILED, updated_at__gt=start, updated_at__lte=end)
    transfers = list(_rows(Metric.TRANSFER, start, end).order_by("at").values_list("value", "amount", "ok"))
    return {
        "transfer": {
            "attempts": len(transfers),
            "rate_mb_s": {k: v for k, v in _stats([bps / MB for bps, _, _ in transfers]).items() if k != "p95"},
            "concurrency": _stats([n for _, n, _ in transfers if n is not None]),
            "last_concurrency": transfers[-1][1] if transfers else None,
            "adaptive": transfers[-1][2] if transfers else not settings.FRAMEIO_PART_CONCURRENCY,
        },
        "uploaded": len(rows),
        "bytes": int(sum(size for size, _ in rows)),
        "rate_mb_s": {k: v for k, v in _stats(rates).items() if k != "p95"},
        "rated": len(rates),  # the uploads of RATE_MIN_BYTES or more, which the rate is measured on
        "failed": failed.count(),
        "failure_reasons": dict(
            Counter(_reason(e) for e in failed.values_list("last_error", flat=True)).most_common(5)
        ),
    }


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_TOKEN = re.compile(r"[\w./-]*\d[\w./-]*")
_NUMBER = re.compile(r"[\d.,]+")


def _reason(text: str) -> str:
    """An error's kind: its first clause, so that alike errors group. A number becomes N ("part 3: HTTP 500"
    -> "part N"), and a name holding digits becomes … whole ("no shot UNDLM_0O001 in the cut" -> "no shot …
    in the cut"), never a half-replaced name such as UNDLM_NON_vN.mov; a quoted name becomes '…'."""
    head = re.split(r"[;:]\s", text or "unknown", maxsplit=1)[0]
    head = _QUOTED.sub("'…'", head)
    return _TOKEN.sub(lambda token: "N" if _NUMBER.fullmatch(token[0]) else "…", head)[:120]


def structure_section(start: datetime, end: datetime) -> dict:
    rows = Counter(_rows(Metric.STRUCTURE, start, end).values_list("ok", flat=True))
    lookups = rows[True] + rows[False]
    return {
        "lookups": lookups,
        "cached": rows[True],
        "resolved": rows[False],
        "hit_rate": round(100 * rows[True] / lookups, 1) if lookups else None,
    }


def watcher_section(start: datetime, end: datetime) -> dict:
    rows = list(_rows(Metric.SCAN, start, end).values_list("value", "amount", "ok"))
    return {
        "scans": len(rows),
        "full_scans": sum(1 for *_, full in rows if full),
        "scan_ms": _stats([ms for ms, _, _ in rows]),
        "max_files_statted": int(max((files or 0 for _, files, _ in rows), default=0)),
    }


def processes_section(start: datetime, end: datetime) -> dict:
    samples: dict[str, list] = defaultdict(list)
    sampled = _rows(Metric.PROCESS, start, end).order_by("at").values_list("label", "value", "amount", "at")
    for label, rss, cpu, at in sampled:
        samples[label].append((rss, cpu, at))
    processes = []
    for label, rows in sorted(samples.items()):
        if label.rpartition(":")[0] not in SERVICES:
            continue
        cpus = [cpu for _, cpu, _ in rows if cpu is not None]
        processes.append(
            {
                "process": label,
                "running": rows[-1][2] >= end - STOPPED_AFTER,
                "samples": len(rows),
                "rss_mb_last": round(rows[-1][0] / MIB, 1),
                "rss_mb_max": round(max(rss for rss, *_ in rows) / MIB, 1),
                "cpu_percent_mean": round(statistics.fmean(cpus), 1) if cpus else None,
                "cpu_percent_max": round(max(cpus), 1) if cpus else None,
            }
        )
    queue = list(_rows(Metric.QUEUE, start, end).order_by("at").values_list("value", flat=True))
    return {
        "processes": processes,
        "queue": {"samples": len(queue), "last": int(queue[-1]) if queue else None, "max": int(max(queue, default=0))},
    }


def deliveries_section(start: datetime, end: datetime) -> dict:
    """Deliveries made in the period, failures with their reason, and what waits (open now)."""
    delivered = Delivery.objects.filter(delivered_at__gt=start, delivered_at__lte=end)
    failed = Delivery.objects.filter(state=Delivery.State.FAILED, updated_at__gt=start, updated_at__lte=end)
    return {
        "delivered": delivered.count(),
        "files": sum(delivered.values_list("files", flat=True)),
        "bytes": sum(delivered.values_list("bytes", flat=True)),
        "superseded": Delivery.objects.filter(superseded_at__gt=start, superseded_at__lte=end).count(),
        "failed": failed.count(),
        "failure_reasons": dict(Counter(_reason(e) for e in failed.values_list("error", flat=True)).most_common(5)),
        "waiting": Delivery.objects.filter(state__in=[Delivery.State.PENDING, Delivery.State.COPYING]).count(),
    }


def errors_section(start: datetime, end: datetime, api: dict, uploads: dict) -> list[dict]:
    errors = [{"kind": f"frameio.api {status}", "count": n} for status, n in api["errors_by_status"].items()]
    errors += [{"kind": f"upload failed: {reason}", "count": n} for reason, n in uploads["failure_reasons"].items()]
    quarantined = Render.objects.filter(state=Render.State.QUARANTINED, updated_at__gt=start, updated_at__lte=end)
    examples: dict[str, str] = {}
    kinds: Counter[str] = Counter()
    for text in quarantined.values_list("reason", flat=True):
        kinds[_reason(text)] += 1
        examples.setdefault(_reason(text), text)
    for reason, n in kinds.most_common(5):  # with one full reason: the kind hides the names
        errors.append({"kind": f"render quarantined: {reason}", "count": n, "example": examples[reason][:200]})
    webhooks = WebhookDelivery.objects.filter(state=WebhookDelivery.State.FAILED, processed_at__gt=start)
    if count := webhooks.filter(processed_at__lte=end).count():
        errors.append({"kind": "frameio webhook delivery failed", "count": count})
    outbox = OutboxMessage.objects.filter(created_at__gt=start, created_at__lte=end)
    for state in (OutboxMessage.State.FAILED, OutboxMessage.State.UNCONFIRMED):
        if count := outbox.filter(state=state).count():
            errors.append({"kind": f"notification {state}", "count": count})
    alerts = Alert.objects.filter(opened_at__gt=start, opened_at__lte=end)
    for rule, n in Counter(alerts.values_list("rule", flat=True)).most_common():
        errors.append({"kind": f"alert: {rule}", "count": n})
    return sorted(errors, key=lambda e: -e["count"])


def recommendations(report: dict) -> list[str]:
    """Plain rules over the figures; each line says what to look at and which setting to change."""
    tips = []
    api, up, st, wa, pr = (report[k] for k in ("api", "uploads", "structure", "watcher", "processes"))
    if not api["calls"]:
        tips.append("No Frame.io calls in the period: Frame.io is idle, or not connected (manage.py frameio_health).")
    elif api["calls"] >= 20 and api["success_rate"] < 95:
        worst = max(api["errors_by_status"].items(), key=lambda item: item[1])[0]
        tips.append(
            f"Frame.io calls succeed only {api['success_rate']:g} % of the time (mostly {worst}): "
            "run manage.py frameio_health and check status.frame.io."
        )
    if api["errors_by_status"].get("429"):
        tips.append(
            f"Frame.io rate-limited {api['errors_by_status']['429']} calls: bulk work should be spread out "
            "(the client paces on x-ratelimit headers; Status updates go 100 files a call)."
        )
    if api["errors_by_status"].get("401"):
        tips.append("Frame.io refused the token: check the connection on /frameio/connect/.")
    if api["latency_ms"]["median"] and api["latency_ms"]["median"] > 1000:
        tips.append(f"Frame.io answers slowly (median {api['latency_ms']['median']:g} ms): check the network path.")
    median_rate = up["rate_mb_s"]["median"]
    if up["rated"] >= 3 and median_rate is not None and median_rate < 5:
        tips.append(
            f"Uploads run at a median {median_rate:g} MB/s: if the uplink is not full, raise "
            f"FRAMEIO_PART_CONCURRENCY_MAX (now {settings.FRAMEIO_PART_CONCURRENCY_MAX}; "
            f"FRAMEIO_PART_CONCURRENCY={settings.FRAMEIO_PART_CONCURRENCY} pins it when not 0) or "
            f"MAX_CONCURRENT_UPLOADS (now {settings.MAX_CONCURRENT_UPLOADS})."
        )
    if up["failed"]:
        tips.append(f"{up['failed']} upload(s) failed: retry them from the dashboard once the cause is fixed.")
    if st["lookups"] >= 5 and st["hit_rate"] is not None and st["hit_rate"] < 80:
        tips.append(
            f"Scene folders were served from the cache {st['hit_rate']:g} % of the time: expected while new scenes "
            "get their first render; if it stays low, check that Scene.frameio_folder_id is kept."
        )
    if wa["scan_ms"]["median"] and wa["scan_ms"]["median"] > 2000:
        tips.append(
            f"Watcher scans take a median {wa['scan_ms']['median']:g} ms: raise POSTFLOW_SCAN_INTERVAL_SECONDS "
            "or narrow LUCIDLINK_MOUNT_PATH to the render folders."
        )
    limit = settings.ALERT_PROCESS_MEMORY_MB
    for process in pr["processes"]:
        if process["rss_mb_max"] > 0.8 * limit:
            tips.append(
                f"Process {process['process']} peaked at {process['rss_mb_max']:g} MB (alert at {limit:g} MB): "
                "restart it; if it grows again, report a leak."
            )
        if (process["cpu_percent_mean"] or 0) > 80:
            tips.append(
                f"Process {process['process']} averaged {process['cpu_percent_mean']:g} % CPU: it is the bottleneck."
            )
    if pr["queue"]["max"] > 20:
        tips.append(
            f"The job queue reached {pr['queue']['max']} tasks: add workers (Q_WORKERS, now "
            f"{settings.Q_CLUSTER['workers']})."
        )
    kinds = {e["kind"] for e in report["errors"]}
    if any(k.startswith("render quarantined") for k in kinds):
        tips.append("Renders were quarantined: release or dismiss them in the admin (Render, state quarantined).")
    if report.get("deliveries", {}).get("failed"):
        tips.append("Deliveries failed: each names its file; fix the cause, then run manage.py deliver again.")
    if "notification unconfirmed" in kinds:
        tips.append("Some notifications are unconfirmed: check Discord, and send missing ones again from the admin.")
    return tips or ["Nothing to recommend: every figure is within its bounds."]


def build(*, since: timedelta, now: datetime | None = None) -> dict:
    end = now or timezone.now()
    start = end - since
    api, uploads = api_section(start, end), uploads_section(start, end)
    report = {
        "period": {"from": start.isoformat(), "to": end.isoformat(), "hours": round(since.total_seconds() / 3600, 2)},
        "api": api,
        "uploads": uploads,
        "structure": structure_section(start, end),
        "watcher": watcher_section(start, end),
        "processes": processes_section(start, end),
        "deliveries": deliveries_section(start, end),
        "errors": errors_section(start, end, api, uploads),
    }
    report["recommendations"] = recommendations(report)
    return report


def _transfer_line(transfer: dict) -> str:
    """The parts' own rate, and how many the process kept in flight (its controller's choice, or the pin)."""
    how = "adaptive" if transfer["adaptive"] else "pinned by FRAMEIO_PART_CONCURRENCY"
    return (
        f"  parts: median {_fmt(transfer['rate_mb_s']['median'], ' MB/s')} with median "
        f"{_fmt(transfer['concurrency']['median'], ' in flight')} (last {_fmt(transfer['last_concurrency'])}, {how})"
    )


def _fmt(value, unit: str = "") -> str:
    return "—" if value is None else f"{value:g}{unit}"


def as_text(report: dict) -> str:
    api, up, st, wa, pr = (report[k] for k in ("api", "uploads", "structure", "watcher", "processes"))
    period = report["period"]
    lines = [
        f"postflow report, {period['from'][:19]} to {period['to'][:19]} ({period['hours']:g} h)",
        "",
        "Frame.io API",
        f"  calls {api['calls']}, success rate {_fmt(api['success_rate'], ' %')}",
        f"  latency mean {_fmt(api['latency_ms']['mean'], ' ms')}, median {_fmt(api['latency_ms']['median'], ' ms')}, "
        f"p95 {_fmt(api['latency_ms']['p95'], ' ms')}",
    ]
    lines += [
        f"  {e['endpoint']:<36} {e['calls']:>6} calls {e['errors']:>4} errors  median {e['median_ms']:g} ms"
        for e in api["endpoints"][:8]
    ]
    lines += [
        "",
        "Uploads",
        f"  uploaded {up['uploaded']} ({up['bytes'] / 1e9:.2f} GB), failed {up['failed']}",
        f"  rate mean {_fmt(up['rate_mb_s']['mean'], ' MB/s')}, median {_fmt(up['rate_mb_s']['median'], ' MB/s')}"
        f" (over the {up['rated']} of {RATE_MIN_BYTES // MB} MB or more)",
        _transfer_line(up["transfer"]),
        "",
        "Structure cache (scene folders)",
        f"  lookups {st['lookups']}: {st['cached']} cached, {st['resolved']} resolved; "
        f"hit rate {_fmt(st['hit_rate'], ' %')}",
        "",
        "Watcher",
        f"  scans {wa['scans']} ({wa['full_scans']} full), median {_fmt(wa['scan_ms']['median'], ' ms')}, "
        f"p95 {_fmt(wa['scan_ms']['p95'], ' ms')}",
        "",
        "CPU and memory",
    ]
    lines += [
        f"  {p['process']:<24} RSS {p['rss_mb_last']:g} MB (max {p['rss_mb_max']:g}), "
        f"CPU mean {_fmt(p['cpu_percent_mean'], ' %')} (max {_fmt(p['cpu_percent_max'], ' %')})"
        + ("" if p["running"] else ", stopped")
        for p in pr["processes"]
    ] or ["  no samples (the worker samples every minute)"]
    lines.append(f"  job queue: last {_fmt(pr['queue']['last'])}, max {pr['queue']['max']}")
    de = report["deliveries"]
    lines += [
        "",
        "Deliveries",
        f"  delivered {de['delivered']} ({de['files']} files, {de['bytes'] / 1e9:.2f} GB), failed {de['failed']}, "
        f"superseded {de['superseded']}, waiting {de['waiting']}",
    ]
    lines += [f"  {n:>6}  failed: {reason}" for reason, n in de["failure_reasons"].items()]
    lines += ["", "Errors by kind"]
    lines += [
        f"  {e['count']:>6}  {e['kind']}" + (f"\n          e.g. {e['example']}" if e.get("example") else "")
        for e in report["errors"]
    ] or ["  none"]
    lines += ["", "Recommendations"] + [f"  - {tip}" for tip in report["recommendations"]]
    return "\n".join(lines) + "\n"


def write(report: dict, *, directory: Path | None = None) -> tuple[Path, Path]:
    """var/reports/postflow-report-<to>.json and .txt."""
    directory = directory or Path(settings.VAR_DIR) / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(report["period"]["to"]).strftime("%Y%m%d-%H%M%S")
    json_path, text_path = directory / f"postflow-report-{stamp}.json", directory / f"postflow-report-{stamp}.txt"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    text_path.write_text(as_text(report))
    return json_path, text_path
