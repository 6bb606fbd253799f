"""Verified renders to Frame.io, exactly once: structure, resumable parallel parts, version stacks.

The way of one render (every step saved the moment it is done, so a crash resumes from there):

1. The Upload row exists (one per render, `states.upload_for_render`) and a worker claims it with a
   lease (`claims.claim`, a compare-and-set UPDATE); a second delivery of the same job finds the lease
   taken and returns.
2. The scene's folder exists in the production's Frame.io project (`frameio.structure`, ids cached on
   Project, Scene).
3. `local_upload` creates the Frame.io file; its id and the part plan are saved before any PUT
   (`attempt`, `states.upload_mark_uploading`).
4. Parts go up in parallel, streamed from disk (bounded memory), each recorded when it lands
   (`transfer`), as many in flight as the process's budget allows (`concurrency`: found from the
   aggregate rate, or pinned by FRAMEIO_PART_CONCURRENCY). Expired part URLs (403 "Request has
   expired") lead to a new Frame.io file, the orphan deleted. In pull mode (FRAMEIO_UPLOAD_MODE=pull)
   Frame.io fetches the render from a signed URL instead (`pull`), and step 5 follows the file.
5. Frame.io says upload_complete (`states.upload_mark_uploaded`); the file is stacked onto the shot's
   previous version (`stacking`), the shot moves to review_uploaded (when the machine allows), and
   the Status field is set in batches (`status_field`).
6. A reconciler (every minute, `reconcile`) re-enqueues what is due, takes over expired leases,
   follows uploaded files until transcoded, and flushes the Status batch.

Every change of Upload.state is a named function of `frameio.uploads.states`. What other code calls
is re-exported here.
"""

from frameio.uploads.attempt import upload_render, upload_run
from frameio.uploads.errors import UploadFailed
from frameio.uploads.reconcile import uploads_reconcile
from frameio.uploads.states import upload_cancel, upload_for_render, upload_mark_ready, upload_retry
from frameio.uploads.transfer import Progress

__all__ = [
    "Progress",
    "UploadFailed",
    "upload_cancel",
    "upload_for_render",
    "upload_mark_ready",
    "upload_render",
    "upload_retry",
    "upload_run",
    "uploads_reconcile",
]
