"""The shot status machine: 12 statuses over 5 stages, and the moves between them.

Pure data and functions, no database: `shots.services.shot_transition` is the one place
that applies a move.
"""

from django.db import models


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    SOURCES_VERIFIED = "sources_verified", "Sources verified"
    AE_READY = "ae_ready", "AE ready"
    AE_IN_PROGRESS = "ae_in_progress", "AE in progress"
    AE_COMPLETED = "ae_completed", "AE completed"
    EBSYNTH_READY = "ebsynth_ready", "EbSynth ready"
    EBSYNTH_IN_PROGRESS = "ebsynth_in_progress", "EbSynth in progress"
    EBSYNTH_COMPLETED = "ebsynth_completed", "EbSynth completed"
    REVIEW_UPLOADED = "review_uploaded", "Review uploaded"
    REVISION_REQUESTED = "revision_requested", "Revision requested"
    REVIEW_APPROVED = "review_approved", "Review approved"
    FINAL_DELIVERY = "final_delivery", "Final delivery"


class Stage(models.TextChoices):
    SOURCE = "source", "Source"
    AFTER_EFFECTS = "after_effects", "After Effects"
    EBSYNTH = "ebsynth", "EbSynth"
    REVIEW = "review", "Review"
    DELIVERY = "delivery", "Delivery"


STAGE_STATUSES: dict[Stage, tuple[Status, ...]] = {
    Stage.SOURCE: (Status.PENDING, Status.SOURCES_VERIFIED),
    Stage.AFTER_EFFECTS: (Status.AE_READY, Status.AE_IN_PROGRESS, Status.AE_COMPLETED),
    Stage.EBSYNTH: (Status.EBSYNTH_READY, Status.EBSYNTH_IN_PROGRESS, Status.EBSYNTH_COMPLETED),
    Stage.REVIEW: (Status.REVIEW_UPLOADED, Status.REVISION_REQUESTED, Status.REVIEW_APPROVED),
    Stage.DELIVERY: (Status.FINAL_DELIVERY,),
}

STAGE_OF: dict[Status, Stage] = {status: stage for stage, statuses in STAGE_STATUSES.items() for status in statuses}

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.SOURCES_VERIFIED}),
    Status.SOURCES_VERIFIED: frozenset({Status.AE_READY}),
    Status.AE_READY: frozenset({Status.AE_IN_PROGRESS}),
    Status.AE_IN_PROGRESS: frozenset({Status.AE_COMPLETED}),
    # A shot with no EbSynth pass goes straight to review.
    Status.AE_COMPLETED: frozenset({Status.EBSYNTH_READY, Status.REVIEW_UPLOADED}),
    Status.EBSYNTH_READY: frozenset({Status.EBSYNTH_IN_PROGRESS}),
    Status.EBSYNTH_IN_PROGRESS: frozenset({Status.EBSYNTH_COMPLETED}),
    Status.EBSYNTH_COMPLETED: frozenset({Status.REVIEW_UPLOADED}),
    Status.REVIEW_UPLOADED: frozenset({Status.REVIEW_APPROVED, Status.REVISION_REQUESTED}),
    Status.REVISION_REQUESTED: frozenset({Status.AE_IN_PROGRESS, Status.EBSYNTH_IN_PROGRESS, Status.REVIEW_UPLOADED}),
    Status.REVIEW_APPROVED: frozenset({Status.FINAL_DELIVERY, Status.REVISION_REQUESTED}),
    Status.FINAL_DELIVERY: frozenset(),
}

# Where a shot stands for "percent complete": the index of its status in the pipeline.
ORDER: tuple[Status, ...] = tuple(Status)


def is_allowed(from_status: str, to_status: str) -> bool:
    return Status(to_status) in ALLOWED[Status(from_status)]


def allowed_targets(from_status: str) -> list[Status]:
    """The legal next statuses, in pipeline order."""
    targets = ALLOWED[Status(from_status)]
    return [status for status in ORDER if status in targets]


def describe_allowed(from_status: str) -> str:
    targets = allowed_targets(from_status)
    return ", ".join(targets) if targets else "nothing (final status)"
