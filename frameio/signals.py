"""What the Frame.io app tells the apps above it. They connect in their AppConfig.ready(); frameio
imports none of them.

Sent synchronously, inside the sender's transaction: a receiver that writes (an outbox row) commits
with the work it reports, or not at all; a receiver that calls out does it on commit.
"""

from django.dispatch import Signal

# An upload became UPLOADED (sent in the transaction that says so). Kwargs: upload_id.
upload_finished = Signal()

# A Frame.io comment became a new review note (frameio.review.notes.note_upsert, in the transaction that
# creates it; not for an update, a completion or a restore). Kwargs: note_id.
note_added = Signal()

# Every part of an upload attempt landed. Kwargs: upload_id, rate_bps (while its parts went up),
# concurrency (the parts in flight the process chose), pinned (FRAMEIO_PART_CONCURRENCY set).
upload_transfer_measured = Signal()

# A Frame.io Status moved (or was refused to move) a shot. Kwargs: shot_id, upload_id, to_status, moved.
# Sent inside the transaction of the move.
review_decided = Signal()

# A scene's Frame.io folder was looked up: served from the cached id, or resolved in Frame.io. Kwargs: cached.
scene_folder_lookup = Signal()
