"""Why a render waits before verification, and until when: read from the ledger's stored facts.

Nothing here writes. The countdown is computed from `observed_since` (when the render's current size and
mtime were first seen) and the settle window, so it needs no write per scan and survives restarts; what
a render waits on besides the window (no data yet, missing frames) is in its `reason`.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.models import Render

# The reason a 0-byte render is held with: LucidLink shows a file another machine is writing as a 0-byte
# placeholder until its data arrives; an empty file looks the same. `alerts` raises an alert for one still
# empty after POSTFLOW_EMPTY_ALERT_MINUTES.
EMPTY_FILE = "0 bytes: a LucidLink placeholder or an empty file, waiting"
# `Render.completion_signal` for a movie whose mtime was already a settle window old when it was first
# seen: moved into place (mv, rsync), not being written. One confirming scan is enough, as for a `.tmp`
# rename or a `.done` sidecar.
OLD_MTIME = "old mtime"
_SIGNALS = {
    "rename": "renamed into place from a temporary name",
    "sidecar": "its .done sidecar says the writer finished",
    OLD_MTIME: "modified over a settle window before it appeared (moved into place)",
}
NEXT_SCAN = "settles on the next scan"


@dataclass(frozen=True)
class SettleWait:
    """What a render waits on: a sentence for people, and when the settle window ends (None when the
    render waits on something else: its data, missing frames, the next scan)."""

    text: str
    until: datetime | None = None
    seconds_left: int | None = None


def settle_wait(render: Render, *, now: datetime, settle_seconds: float) -> SettleWait | None:
    """Why `render` is not verified yet, or None when it does not wait (verified, quarantined, ...)."""
    if render.state == Render.State.STABLE:
        return SettleWait("settled: being verified")
    if render.state != Render.State.DISCOVERED:
        return None
    if render.size == 0:
        return SettleWait(EMPTY_FILE)
    if render.missing:
        return SettleWait(f"missing frames {render.missing}: waiting for them")
    if render.completion_signal:
        return SettleWait(f"{_SIGNALS.get(render.completion_signal, render.completion_signal)}: {NEXT_SCAN}")
    until = render.observed_since + timedelta(seconds=settle_seconds)
    left = max(0, math.ceil((until - now).total_seconds()))
    text = f"settling, {left} s left" if left else f"settling: {NEXT_SCAN}"
    return SettleWait(text, until, left)


def moved_into_place(*, mtime_ns: int, now: datetime, settle_seconds: float) -> bool:
    """A modification time already a settle window old when the file is first seen: nobody is writing it."""
    return now.timestamp() * 1_000_000_000 - mtime_ns >= settle_seconds * 1_000_000_000
