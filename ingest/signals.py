"""What ingest tells the apps above it. They connect in their AppConfig.ready(); ingest imports none of them.

Sent synchronously, inside the sender's transaction: a receiver that writes commits with the work it
reports, or not at all; a receiver that calls out (enqueues a job) does it on commit.
"""

from django.dispatch import Signal

# A render became `verified` (named, hashed, probed), sent in the transaction of the claim, before its folder's
# rule queues it or moves the shot. Kwargs: render_id.
render_verified = Signal()

# A verified render was handed to the upload pipeline (its state is now `queued`). Kwargs: render_id.
render_queued = Signal()

# A watcher finished a scan of a reachable root. Kwargs: watcher (its name), ms, files (statted), full.
watcher_scanned = Signal()

# A rush that shots were verified against (ingest.models.SourceClip) is gone, or changed since; sent once
# per such finding, by ingest.services.source_clip_flag. Kwargs: clip_id, source_file (its name), path,
# problem ("gone" or "changed"), detail.
source_changed = Signal()
