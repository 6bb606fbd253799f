"""The shot status machine: 12 statuses over 5 stages, and the moves between them.

Pure data and functions, no database: `shots.services.shot_transition` is the one place
that applies a move.
"""

from collections.abc import Iterable, Mapping

from django.db import models

from postflow.lib.glob_rules import Rule, parse_rules


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

# The pipeline's order (lists, bars, "percent complete").
ORDER: tuple[Status, ...] = tuple(Status)

# Percent complete (docs/realtime.md): each shot counts for the position of its status in the
# pipeline, from 0 (pending) to 1 (final_delivery), in equal steps of 1/11; `revision_requested`
# counts as `review_uploaded`, because a revision sends the work back and must not look like
# progress past the upload.
_STEP = 1 / (len(ORDER) - 1)
PROGRESS_WEIGHT: dict[str, float] = {status.value: ORDER.index(status) * _STEP for status in ORDER}
PROGRESS_WEIGHT[Status.REVISION_REQUESTED] = PROGRESS_WEIGHT[Status.REVIEW_UPLOADED]


def percent_complete(counts: Mapping[str, int]) -> float:
    """The mean progress of shots counted per status ({status: n}), in percent; 0 for no shots."""
    total = sum(counts.values())
    if not total:
        return 0.0
    return 100 * sum(PROGRESS_WEIGHT[status] * n for status, n in counts.items()) / total


def is_allowed(from_status: str, to_status: str) -> bool:
    return Status(to_status) in ALLOWED[Status(from_status)]


def allowed_targets(from_status: str) -> list[Status]:
    """The legal next statuses, in pipeline order."""
    targets = ALLOWED[Status(from_status)]
    return [status for status in ORDER if status in targets]


# Set by a reviewer in Frame.io (or a person), never inferred from files.
REVIEW_DECISIONS = frozenset({Status.REVIEW_APPROVED, Status.REVISION_REQUESTED})


def catch_up_path(from_status: str, to_status: str) -> list[Status] | None:
    """The statuses a shot walks through, in order, when evidence shows it is at `to_status` already
    (a render for a pending shot), or None when that is not a move forward.

    A legal edge is taken as it is. Otherwise the shortest path whose every step is legal and goes
    forward: along the pipeline's order, or out of revision_requested into its rework (a revision
    sends the work back to AE or EbSynth, and the new work's evidence walks it forward again). A
    review decision (approved, revision requested) is a person's: never passed through on the way.
    Backwards (an AE render for an approved shot) and out of final_delivery: None. The same status:
    an empty path.
    """
    start, target = Status(from_status), Status(to_status)
    if start == target:
        return []
    if target in ALLOWED[start]:
        return [target]
    paths: dict[Status, list[Status]] = {start: []}
    frontier = [start]
    while frontier:  # breadth first: the shortest walk, each step recorded
        reached = []
        for status in frontier:
            for step in sorted(ALLOWED[status], key=ORDER.index):
                if step in paths or not _forward(status, step) or step in REVIEW_DECISIONS:
                    continue
                paths[step] = [*paths[status], step]
                if step == target:
                    return paths[step]
                reached.append(step)
        frontier = reached
    return None


def _forward(from_status: Status, to_status: Status) -> bool:
    return from_status == Status.REVISION_REQUESTED or ORDER.index(to_status) > ORDER.index(from_status)


def describe_allowed(from_status: str) -> str:
    targets = allowed_targets(from_status)
    return ", ".join(targets) if targets else "nothing (final status)"


def parse_evidence_rules(entries: Iterable[str]) -> list[Rule]:
    """Evidence rules ("glob=status", ingest.evidence): what a file in a shot's folders proves. One
    grammar for the setting's check, the project's admin field and the watcher (RuleError says why)."""
    return parse_rules(entries, actions=Status.values, example="*/ae/*.aep=ae_in_progress", allowed="a status")
