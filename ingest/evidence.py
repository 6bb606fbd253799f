"""Stage evidence: what appears in a shot's folders says how far its work has gone (issue #13).

Two kinds, both moves "at least that far" (`shots.services.shot_catch_up` with `at_least`): a shot
behind catches up step by step, one event a step naming the file; a shot already further along is
left alone, because work files go on being saved long after their stage.

- Evidence files (`POSTFLOW_EVIDENCE_RULES`, or a project's own `Project.evidence_rules`, read at each
  full scan; "glob=status"): files that are not renders, such as an After Effects project in `ae/`
  (ae_in_progress) or EbSynth key frames in `ebsynth/keys/` (ebsynth_ready). The watcher tracks them
  and never records them as renders.
- A render arriving where a stage rule says it completes a stage (`*/ae/*=ae_completed`,
  `*/ebsynth/out/*=ebsynth_completed`): while it is being written it is evidence that the stage is in
  progress. Once verified, the stage rule moves the shot to the stage's completion.

A file's shot is the one whose nomenclature names a folder on the file's path (the shot tree of
`shot_tree`), or else the one its file name resolves to, a frame number dropped. A file that names no
shot is evidence of nothing, and one file's problem never stops the others.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from ingest.rules import Rule, action_for
from ingest.scanner import FileStat, ScanResult, printable
from ingest.selectors import resolve_name
from ingest.services import WatchConfig
from postflow.lib.glob_rules import first_match
from shots.models import Shot, ShotEvent
from shots.services import ConcurrentTransition, shot_catch_up
from shots.workflow import Status

logger = logging.getLogger(__name__)

# While a stage's completing render is being written, the stage is in progress.
IN_PROGRESS_OF = {Status.AE_COMPLETED: Status.AE_IN_PROGRESS, Status.EBSYNTH_COMPLETED: Status.EBSYNTH_IN_PROGRESS}
# `name.1001.exr`, `name_0001.png`, a sequence's `name.####.exr`: the frame number a name ends with.
_FRAME_SUFFIX = re.compile(r"[._](?:\d+|#+)$")


def evidence_status(relpath: str, rules: Iterable[Rule]) -> str | None:
    """The status an evidence file proves, by the first rule whose glob matches, or None."""
    return first_match(relpath, rules)


def evidence_observe(*, config: WatchConfig, result: ScanResult) -> int:
    """Apply the evidence a scan saw (new and changed entries, image sequences folded into one).
    Returns how many entries were evidence."""
    applied = 0
    for relpath, stat in [*result.appeared.items(), *result.changed.items()]:
        try:
            applied += _apply(config, relpath, stat)
        except Exception:  # one file's problem stays with that file: logged, the others go on
            logger.exception("stage evidence from %s could not be applied", printable(relpath))
    return applied


def _apply(config: WatchConfig, relpath: str, stat: FileStat) -> bool:
    maybe_evidence = evidence_status(relpath, config.all_evidence()) is not None
    in_progress = (
        IN_PROGRESS_OF.get(action_for(relpath, config.rules)) if config.is_render_entry(relpath, stat) else None
    )
    if not maybe_evidence and in_progress is None:
        return False  # most files: no query at all
    shot = shot_for_path(relpath, config.templates)
    if shot is None:
        logger.debug("%s may be evidence, but of no known shot", printable(relpath))
        return False
    status = evidence_status(relpath, config.evidence_for(shot.project_id)) or in_progress
    if status is None:
        return False  # evidence under another project's rules only
    if shot.status == Status.REVISION_REQUESTED and _before_last_move(shot, stat):
        # A reviewer sent the work back after this file was written: it is the old work, not the rework.
        # (A restarted watcher reports every file as new; the decision must not be undone by them.)
        return False
    _catch_up(shot, status, relpath)
    return True


def _before_last_move(shot: Shot, stat: FileStat) -> bool:
    moved_at = (
        ShotEvent.objects.filter(shot=shot, kind__in=[ShotEvent.Kind.TRANSITION, ShotEvent.Kind.OVERRIDE])
        .order_by("-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return moved_at is not None and stat.mtime_ns < moved_at.timestamp() * 1_000_000_000


def _catch_up(shot: Shot, status: str, relpath: str) -> None:
    """The move, tried once more if another process moved the shot meanwhile (the scanner will not
    report this file again until it changes: evidence lost here would stay lost)."""
    for attempt in range(2):
        try:
            shot_catch_up(shot_id=shot.pk, to_status=status, actor="watcher", evidence=relpath, at_least=True)
            return
        except ConcurrentTransition:
            if attempt:
                raise


def shot_for_path(relpath: str, templates: list[str]) -> Shot | None:
    """The shot a file belongs to: a folder of its path named after one shot (the shot tree), else
    the shot its file name resolves to (a sequence's frame number dropped), else None."""
    path = PurePosixPath(relpath)
    folders = list(path.parts[:-1])
    if folders:
        found = list(Shot.objects.filter(nomenclature__in=folders, omitted=False).exclude(nomenclature="")[:2])
        if len(found) == 1:
            return found[0]
    stem = _FRAME_SUFFIX.sub("", path.stem)
    return resolve_name(f"{stem}{path.suffix}", templates).shot
