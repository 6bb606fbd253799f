"""The dashboard's websocket: staff only; replays what a browser missed, then live events."""

import logging
import time
from datetime import timedelta
from importlib import import_module

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from postflow import realtime

logger = logging.getLogger(__name__)

# Close code for a refused socket after the handshake (4000-4999 are the application's own).
CLOSE_FORBIDDEN = 4403
# How often an open socket reads its session again (signed out, no longer staff): at each ping, and
# before sending an event when the last check is older than this. The page pings every 25 s.
STAFF_RECHECK_SECONDS = 25
# A ping replays only the events recorded at least this long ago: younger ones may still be on
# their way through the channel layer, and replaying them would only race it.
PING_REPLAY_AGE = timedelta(seconds=5)


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """Protocol (JSON text frames):

    client -> {"type": "resume", "last_id": N}   once, first: replay events after N, then live
    client -> {"type": "ping"}                    keep-alive; sends any event missed, then {"type": "pong"}
    server -> {"type": "event", "id", "kind", "payload", "at"}   ids strictly increasing
    server -> {"type": "ready", "last_id": N}     the replay is over
    server -> {"type": "reload", "reason", "last_id"}  missed too much: reload the page
    The socket is closed with 4403 once its session is no longer an active staff one.
    """

    async def connect(self) -> None:
        if not _is_staff(self.scope.get("user")):
            await self.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake gets a 403
            return
        self.sent_id: int | None = None  # last event id sent; None until the browser resumes
        self.refused = False
        self.checked_at = time.monotonic()
        self.relayed = settings.POSTFLOW_LIVE_RELAY
        await self.accept()
        if self.relayed:
            await realtime.relay().subscribe()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "sent_id", None) is not None:
            await self.channel_layer.group_discard(realtime.GROUP, self.channel_name)
        if getattr(self, "relayed", False):
            await realtime.relay().unsubscribe()

    async def receive_json(self, content, **kwargs) -> None:
        if self.refused:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "resume":
            await self._resume(content.get("last_id"))
        elif kind == "ping":
            if not await self._still_staff():
                return
            if self.sent_id is not None:
                # Re-joining refreshes the membership, which the in-memory layer expires after a day.
                await self.channel_layer.group_add(realtime.GROUP, self.channel_name)
                # A message the layer dropped (a full channel) is otherwise only noticed when a
                # newer one arrives: the newest events of a quiet moment would wait for the next.
                await self._replay(self.sent_id, recorded_before=timezone.now() - PING_REPLAY_AGE)
            await self.send_json({"type": "pong"})

    async def _resume(self, last_id) -> None:
        if self.sent_id is not None:
            return  # resumed already: ids only go forward
        if not isinstance(last_id, int) or isinstance(last_id, bool) or last_id < 0:
            last_id = 0
        # Join first, then read: whatever commits in between arrives twice and is dropped by id.
        await self.channel_layer.group_add(realtime.GROUP, self.channel_name)
        self.sent_id = last_id
        if await self._replay(last_id):
            await self.send_json({"type": "ready", "last_id": self.sent_id})

    async def live_events(self, message: dict) -> None:
        """A batch from the relay, or one event sent directly by a publishing process."""
        if self.sent_id is None or self.refused:
            return
        if time.monotonic() - self.checked_at > STAFF_RECHECK_SECONDS and not await self._still_staff():
            return  # a client that never pings still stops receiving once signed out
        events = [e for e in message["events"] if e["id"] > self.sent_id]
        if not events:
            return
        # A gap: a direct send overtook another, or the channel dropped a message when full.
        gap = events[0]["id"] > self.sent_id + 1
        if gap and not await self._replay(self.sent_id, before_id=events[0]["id"]):
            return
        await self._send_events(events)

    async def _replay(self, after_id: int, **bounds) -> bool:
        """Send the events after `after_id` from the table; False when the page must reload instead."""
        result = await database_sync_to_async(realtime.catch_up)(after_id, **bounds)
        if result.stale:
            self.sent_id = max(self.sent_id or 0, result.last_id)
            await self.send_json({"type": "reload", "reason": result.stale, "last_id": result.last_id})
            return False
        await self._send_events(result.events)
        return True

    async def _send_events(self, events: list[dict]) -> None:
        for event in events:
            if event["id"] > self.sent_id:
                await self.send_json(event)
                self.sent_id = event["id"]

    async def _still_staff(self) -> bool:
        """Read the session again from its store (the scope's copy is the handshake's); close the
        socket with 4403 if it is no longer an active staff one."""
        session_key = self.scope["session"].session_key
        user = None
        if session_key:
            user = await get_user({"session": import_module(settings.SESSION_ENGINE).SessionStore(session_key)})
        if _is_staff(user) and user.pk == self.scope["user"].pk:
            self.checked_at = time.monotonic()
            return True
        # Signed out, password changed, or no longer active staff since the socket opened.
        self.refused = True
        await self.close(code=CLOSE_FORBIDDEN)
        return False


def _is_staff(user) -> bool:
    return user is not None and user.is_authenticated and user.is_active and user.is_staff
