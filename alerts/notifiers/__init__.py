"""Transports: each one sends one outbox payload and says what became of it (an `Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Result(Enum):
    SENT = "sent"  # delivered; `remote_id` when the service gives one
    RETRY = "retry"  # provably not delivered (never connected, 429, 503...): try again later
    REJECTED = "rejected"  # this message can never go (400, a refused recipient)
    GONE = "gone"  # the destination no longer exists or refuses us (401/403/404): disable it
    UNKNOWN = "unknown"  # it may or may not have been delivered: never resent automatically


@dataclass(frozen=True)
class Outcome:
    result: Result
    detail: str = ""  # safe to store and log: never a URL, a token or an address book
    remote_id: str = ""
    retry_after: float | None = None  # seconds, from the service (429)
    pause: float = 0.0  # seconds to wait before the next message to the same destination
