"""Review comes back from Frame.io: comments become notes placed in the cut, the Status field moves the shot.

Two ways in, one way through. The webhook job handles one resource right away; the reconciliation
(every few minutes) polls the files of the shots in review, oldest-polled first. Both read Frame.io's
current state and end in the same functions, which write only what changed. So duplicates, events
out of order, and a webhook that never came all end in the same state.

Where a comment lands:

- `frame` is Frame.io's timestamp, a frame number of the render counted from 1 (the docs' migration
  guide; `ms = (frame - 1) / fps * 1000`). The render's timecode is frame - 1 from 00:00:00:00 at the
  render's rate, as Frame.io shows it with `timestamp_as_timecode`.
- The record timecode is the shot's `timeline_in` plus the offset, in project frames. At the project's
  rate the offset is frame - 1. A render at another rate is flagged (`fps_mismatch`), and its offset
  goes through time: the project frame on screen when the render's frame starts,
  floor((frame - 1) x project rate / render rate), with exact NTSC rationals (24000/1001, not 23.976).
- A comment without a timestamp is a note on the whole shot, placed at its first frame.

The Status: the "Status" metadata field, found by name. Its option names map to shot statuses
(FRAMEIO_STATUS_MAP). Only a change of the option moves the shot, once. The last option seen is kept
per file (ReviewState, compare-and-set), and only the shot's latest uploaded version decides. The move
goes through `shot_try_transition`: a move the machine forbids is recorded as refused, not forced.

Modules: `reads` (Frame.io reads), `notes` (comments to notes), `status` (the Status field moves the
shot), `reconcile` (the schedule's poll), `export` (notes for the editor: CSV, EDL). Where a frame
falls is pure timecode arithmetic, in postflow.lib.timecode (offset_in_shot, render_timecode).
"""

from frameio.review.notes import comment_sync, note_delete, note_upsert
from frameio.review.reconcile import review_reconcile
from frameio.review.status import file_ready, status_apply, status_map, status_sync

__all__ = [
    "comment_sync",
    "file_ready",
    "note_delete",
    "note_upsert",
    "review_reconcile",
    "status_apply",
    "status_map",
    "status_sync",
]
