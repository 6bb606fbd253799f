"""Live updates for the dashboard: one way in (`publish`), one table (LiveEvent), two ways out.

Contract (docs/realtime.md):

- Producers call `publish(kind, payload)` inside or outside a transaction. Nothing is written
  unless the surrounding transaction commits; then one LiveEvent row is inserted. Its id is the
  order of delivery. The payload must be JSON and must never hold a secret.
- Embedded mode (the in-memory channel layer, which cannot cross processes): each web process
  runs one `Relay` task, started by the first dashboard socket, that polls the table by id a
  few times per second and sends new rows to the "dashboard" group of its own process.
- Scale mode (a channel layer that crosses processes, e.g. Redis): the publishing process
  sends the row to the group itself, right after inserting it; no relay runs.
- Either way a socket receives rows in id order, fills any gap from the table, and drops ids
  it has already sent; a browser that reconnects resumes from the last id it saw.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from postflow.models import LiveEvent

logger = logging.getLogger(__name__)

GROUP = "dashboard"
# A socket that missed more than this asks the browser to reload the page instead.
CATCH_UP_LIMIT = 500
# How long an event id may stay invisible after a larger one is seen: the longest transaction that
# publishes (ids are taken at insert, rows seen at commit). The API's feed waits this long at a hole.
LATE_COMMIT_SECONDS = 5.0
RELAY_BATCH = 200
# Prune old rows once every this many inserts (cheap: an indexed range delete).
PRUNE_EVERY = 256


# --- the one way in ----------------------------------------------------------------------------


def publish(kind: str, payload: dict[str, Any]) -> None:
    """Record a live event once the current transaction commits (at once outside one).

    A rolled-back change publishes nothing. The insert runs `robust`: a failure to record is
    logged, never raised into the change that already committed.
    """
    if not kind or not isinstance(payload, dict):
        raise ValueError("publish needs a kind and a dict payload")
    # Fail in the caller, not after its commit, if it is not strict JSON: Python writes NaN, and a lone
    # surrogate (a file name's byte that is not UTF-8) as "\udcff", which PostgreSQL's jsonb and a browser's
    # strict UTF-8 refuse.
    json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
    transaction.on_commit(partial(_record, kind, payload), robust=True)


def _record(kind: str, payload: dict[str, Any]) -> LiveEvent:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Ids must be commit-ordered for "rows after id N" to be complete: serialize the
            # inserts (SQLite's single writer already does). Plain SELECTs are not blocked.
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {LiveEvent._meta.db_table} IN EXCLUSIVE MODE")
        event = LiveEvent.objects.create(kind=kind, payload=payload)
    if event.id % PRUNE_EVERY == 0:
        prune()
    if not settings.POSTFLOW_LIVE_RELAY:
        _send_direct(event)
    return event


def _send_direct(event: LiveEvent) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(GROUP, group_message([event.as_message()]))
    except Exception:
        # The row is kept: open dashboards fill the gap with the next event, others on reconnect.
        logger.exception("live event %s recorded but not sent to the channel layer", event.id)


def prune(*, now=None) -> int:
    cutoff = (now or timezone.now()) - timedelta(hours=settings.POSTFLOW_LIVE_EVENT_RETENTION_HOURS)
    deleted, _ = LiveEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def last_event_id() -> int:
    return LiveEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def group_message(events: list[dict]) -> dict:
    return {"type": "live.events", "events": events}


# --- catch-up, for a socket that resumes ---------------------------------------------------------


@dataclass
class CatchUp:
    events: list[dict] = field(default_factory=list)
    last_id: int = 0
    stale: str = ""  # why the browser should reload instead of trusting the replay


def catch_up(
    after_id: int, *, before_id: int | None = None, recorded_before: datetime | None = None, limit: int | None = None
) -> CatchUp:
    """The events after `after_id` (and before `before_id`, recorded before `recorded_before`, when
    given), oldest first; `stale` when they cannot be replayed whole."""
    limit = CATCH_UP_LIMIT if limit is None else limit
    newest = last_event_id()
    if after_id > newest:
        return CatchUp(last_id=newest, stale="the event log restarted")
    rows = LiveEvent.objects.filter(id__gt=after_id)
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    if recorded_before is not None:
        rows = rows.filter(created_at__lt=recorded_before)
    rows = list(rows.order_by("id")[: limit + 1])
    if len(rows) > limit:
        return CatchUp(last_id=newest, stale=f"more than {limit} events missed")
    return _page(after_id, rows, newest)


def page_after(after_id: int, *, limit: int, now: datetime | None = None) -> CatchUp:
    """A page of the log for a reader that follows it from `after_id` (the REST API's event feed): at
    most `limit` events after it, oldest first, `last_id` the id to ask after next. Unlike `catch_up`,
    more than `limit` is not stale (the reader pages on); `stale` only when the log cannot continue
    from `after_id`: the events after it were pruned, or the log restarted (ids below it).

    A reader never comes back for ids below `last_id`, so the page stops before a hole in the ids that
    is younger than LATE_COMMIT_SECONDS: on PostgreSQL an id is taken at insert and seen at commit, so a
    smaller id may still be on its way (an older hole is a rolled-back insert, and is passed)."""
    newest = last_event_id()
    if after_id > newest:
        return CatchUp(last_id=newest, stale="the event log restarted")
    rows = list(LiveEvent.objects.filter(id__gt=after_id).order_by("id")[:limit])
    page = _page(after_id, rows, newest)
    if page.stale or not rows:
        return page
    settled = (now or timezone.now()) - timedelta(seconds=LATE_COMMIT_SECONDS)
    expected, kept = after_id + 1, []
    for row in rows:
        if row.id != expected and (kept or after_id) and row.created_at > settled:
            break  # ids before this one may still commit: hand them over on the next ask
        kept.append(row)
        expected = row.id + 1
    return CatchUp(events=[row.as_message() for row in kept], last_id=kept[-1].id if kept else after_id)


def _page(after_id: int, rows: list[LiveEvent], newest: int) -> CatchUp:
    """`rows` (the events after `after_id`, oldest first) as a page, or stale when the events right after
    `after_id` are gone from the log."""
    if rows and after_id and rows[0].id > after_id + 1 and _pruned_since(after_id):
        return CatchUp(last_id=newest, stale="missed events were pruned")
    return CatchUp(events=[row.as_message() for row in rows], last_id=rows[-1].id if rows else after_id)


def _pruned_since(after_id: int) -> bool:
    return not LiveEvent.objects.filter(id__lte=after_id).exists()


# --- the relay (embedded mode) -------------------------------------------------------------------


class Relay:
    """Polls LiveEvent by id and sends new rows to this process's dashboard group.

    One per process (per event loop): the first subscribing socket starts it, the last one to
    leave stops it. It starts at the newest id: what came before is each socket's catch-up.
    """

    def __init__(self, *, interval: float) -> None:
        self.interval = interval
        self.subscribers = 0
        self.last_id = 0
        self.task: asyncio.Task | None = None
        self.loop = asyncio.get_running_loop()

    async def subscribe(self) -> None:
        self.subscribers += 1
        if self.task is None or self.task.done():
            start = await database_sync_to_async(last_event_id)()
            if self.task is None or self.task.done():  # another socket may have started it meanwhile
                self.last_id = start
                self.task = asyncio.create_task(self._run(), name="postflow-live-relay")

    async def unsubscribe(self) -> None:
        self.subscribers = max(0, self.subscribers - 1)
        if self.subscribers == 0 and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        layer = get_channel_layer()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.relay_once(layer)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("live relay: polling the event table failed; trying again")

    async def relay_once(self, layer) -> int:
        rows = await database_sync_to_async(_rows_after)(self.last_id)
        if rows:
            await layer.group_send(GROUP, group_message(rows))
            self.last_id = rows[-1]["id"]
        return len(rows)


def _rows_after(last_id: int) -> list[dict]:
    return [row.as_message() for row in LiveEvent.objects.filter(id__gt=last_id).order_by("id")[:RELAY_BATCH]]


_relay: Relay | None = None


def relay() -> Relay:
    """This process's relay (a new one when the event loop changed, as between tests)."""
    global _relay
    if _relay is None or _relay.loop is not asyncio.get_running_loop():
        _relay = Relay(interval=settings.POSTFLOW_LIVE_POLL_SECONDS)
    return _relay
