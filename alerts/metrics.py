"""Measurements, recorded cheaply: one small INSERT each, never raising into the code measured.

Event metrics come from one-line hooks in other apps (`alerts.hooks`) and from the Frame.io client's
observer list; gauges (process CPU and memory, queue depth) are sampled by the alert schedule.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import psutil
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.models import Metric

logger = logging.getLogger(__name__)


def record(
    name: str,
    *,
    label: str = "",
    value: float = 0.0,
    amount: float | None = None,
    counter: float | None = None,
    status: int | None = None,
    ok: bool = True,
    at: datetime | None = None,
) -> None:
    """Insert one Metric. A measurement must never break what it measures: any failure (a busy
    database, an async context, no database at all) is logged at DEBUG and the sample dropped. The
    savepoint keeps a failed insert from poisoning the caller's transaction."""
    try:
        with transaction.atomic():
            Metric.objects.create(
                name=name,
                label=label[:200],
                at=at or timezone.now(),
                value=value,
                amount=amount,
                counter=counter,
                status=status,
                ok=ok,
            )
    except Exception as exc:
        logger.debug("metric %s not recorded: %s", name, type(exc).__name__)


def record_api_call(call) -> None:
    """The observer of `frameio.client.observers`: one row per HTTP exchange (retries included)."""
    status = call.status or 0
    record(Metric.API, label=call.endpoint, value=round(call.ms, 1), status=status, ok=0 < status < 400)


def record_upload(*, path: str, size: int, seconds: float | None, at: datetime | None = None) -> None:
    record(Metric.UPLOAD, label=path, value=size, amount=seconds, at=at)


def record_transfer(*, upload_id: int, rate_bps: float, concurrency: int, pinned: bool) -> None:
    record(Metric.TRANSFER, label=str(upload_id), value=round(rate_bps), amount=concurrency, ok=not pinned)


def record_scan(*, watcher: str, ms: float, files: int, full: bool) -> None:
    record(Metric.SCAN, label=watcher, value=round(ms, 1), amount=files, ok=full)


def record_structure_lookup(*, cached: bool) -> None:
    record(Metric.STRUCTURE, label="cached" if cached else "resolved", ok=cached)


def prune(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.ALERTS_METRIC_RETENTION_DAYS)
    deleted, _ = Metric.objects.filter(at__lt=cutoff).delete()
    return deleted


# --- gauges, sampled by the schedule ---------------------------------------------------------------


class Sampled(Protocol):
    """What a process sample needs (psutil.Process, or a fake in tests)."""

    def memory_info(self): ...

    def cpu_times(self): ...


@dataclass(frozen=True)
class ProcessSample:
    label: str
    rss: int
    cpu_seconds: float
    cpu_percent: float | None  # over the time since this process's previous sample


def sample_processes(
    *, now: datetime | None = None, processes: dict[str, Sampled] | None = None
) -> list[ProcessSample]:
    """RSS and CPU of each postflow process; the CPU figure is the average since the previous sample
    of the same process (its cumulative CPU time is kept in `counter`)."""
    now = now or timezone.now()
    samples = []
    for label, process in (postflow_processes() if processes is None else processes).items():
        try:
            rss = int(process.memory_info().rss)
            times = process.cpu_times()
        except (psutil.Error, OSError):
            continue  # it exited meanwhile, or is not ours to read
        cpu_seconds = float(times.user + times.system)
        previous = (
            Metric.objects.filter(name=Metric.PROCESS, label=label, at__lt=now)
            .order_by("-at")
            .values_list("at", "counter")
            .first()
        )
        percent = None
        if previous and previous[1] is not None and now > previous[0]:
            percent = max(0.0, 100 * (cpu_seconds - previous[1]) / (now - previous[0]).total_seconds())
        record(Metric.PROCESS, label=label, value=rss, amount=percent, counter=cpu_seconds, at=now)
        samples.append(ProcessSample(label, rss, cpu_seconds, percent))
    return samples


def postflow_processes() -> dict[str, psutil.Process]:
    """`role:pid` -> process: this process's family (its topmost ancestor running the same Python,
    e.g. the qcluster or honcho, and every descendant on that Python), plus the watchers whose
    heartbeat comes from this host, and the web server (`_asgi_servers`)."""
    from ingest.models import WatcherHeartbeat

    me = psutil.Process()
    python = _exe(me)
    root = me
    for parent in me.parents():
        if _exe(parent) != python:
            break
        root = parent
    found = {p.pid: p for p in [root, *_children(root)] if _exe(p) == python}
    pids = WatcherHeartbeat.objects.filter(host=socket.gethostname()).exclude(pid=0).values_list("pid", flat=True)
    for pid in pids:
        if pid not in found and psutil.pid_exists(pid):
            found[pid] = psutil.Process(pid)
    for pid, process in _asgi_servers().items():
        found.setdefault(pid, process)
    return {f"{_role(p)}:{pid}": p for pid, p in sorted(found.items())}


def _asgi_servers() -> dict[int, psutil.Process]:
    """The processes on this host serving postflow's ASGI application (daphne `postflow.asgi:application`).
    They are outside the sampler's family: honcho starts each Procfile line in a shell of its own, and in
    scale mode a service manager starts them."""
    found = {}
    for process in psutil.process_iter(["cmdline"]):
        args = process.info.get("cmdline") or []
        if any(arg.startswith("postflow.asgi") for arg in args[1:]):
            found[process.pid] = process
    return found


def _exe(process: psutil.Process) -> str:
    try:
        return process.exe()
    except (psutil.Error, OSError):
        return ""


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except (psutil.Error, OSError):
        return []


def _role(process: psutil.Process) -> str:
    """ "qcluster", "watch", "web" (daphne), "honcho", "alerts_check"...: what the process runs."""
    try:
        args = process.cmdline()
    except (psutil.Error, OSError):
        return "process"
    names = [os.path.basename(arg) for arg in args]
    if "manage.py" in names and names.index("manage.py") + 1 < len(names):
        return names[names.index("manage.py") + 1]
    for known, role in (("daphne", "web"), ("honcho", "honcho"), ("pytest", "pytest")):
        if any(name.startswith(known) for name in names[:3]):
            return role
    return names[1] if len(names) > 1 else (names[0] if names else "process")


def sample_queue(*, now: datetime | None = None) -> int:
    """Tasks waiting in the django-q2 broker (value) and leased by a worker (amount)."""
    from django_q.brokers import get_broker

    broker = get_broker()
    waiting, leased = broker.queue_size(), broker.lock_size()
    record(Metric.QUEUE, label=broker.list_key or "", value=waiting, amount=leased, at=now)
    return waiting
