"""The live-event table: the outbox that carries every dashboard update across processes."""

from django.db import models


class LiveEvent(models.Model):
    """One update for the open dashboards, written by `postflow.realtime.publish` after the
    change it describes committed.

    Ids are the order of delivery: a browser remembers the last id it saw and, on reconnect,
    asks for the rows after it. Rows are pruned after POSTFLOW_LIVE_EVENT_RETENTION_HOURS.
    """

    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"#{self.id} {self.kind}"

    def as_message(self) -> dict:
        """What a websocket client receives for this event."""
        return {
            "type": "event",
            "id": self.id,
            "kind": self.kind,
            "payload": self.payload,
            "at": self.created_at.isoformat(),
        }
