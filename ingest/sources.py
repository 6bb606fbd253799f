"""The sources check: is every shot's source clip there, readable, and long enough? (issue #13)

For each source file of the shot list (`shots.SourceFile`, shared by one shot or several):

1. **Find** it under the rushes root by name (`ingest.rushes`: one walk, without case). Several
   files of that name are an ambiguity to resolve by hand, never a guess.
2. **Probe** it once, whatever the number of its shots (`ingest.verify.probe_source`: the header,
   the start timecode, the first packet). What the probe read is kept (`SourceClip`, through
   `ingest.services`); while the file keeps its size and mtime, later checks read the row instead.
3. **Check** each shot: the clip runs at the project rate, and the shot's source range
   [in, out) lies inside the clip's [start, start + frames).

A pending shot whose source checks out moves to `sources_verified` (`shots.services`, actor
`sources`, the clip's path in the event). A shot past pending is "already". Anything else is a
problem of that shot, with its reason, and the loop goes on. Once shots rest on a clip (past
pending), a clip that is gone or changed is a problem of all its shots and an alert
(`ingest.signals.source_changed`); the shots keep their status.

`manage.py verify_sources` runs it once; `RushesWatcher`, in `manage.py watch`, whenever rushes
arrive, change or go.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ingest import services
from ingest.models import SourceClip
from ingest.rushes import RushesIndex
from ingest.scanner import FileStat, RootUnavailable, ScanResult, TreeScanner
from ingest.verify import MediaError, SourceFacts, probe_source
from postflow.lib.timecode import exact_rate, fps_label, frames_to_timecode, same_rate, timecode_to_frames
from shots.models import Shot, SourceFile
from shots.services import ShotStatusError, shot_try_transition
from shots.workflow import Status

logger = logging.getLogger(__name__)

ACTOR = "sources"

# The kinds of problem, as `--json` names them.
MISSING = "missing"  # no file of that name under the rushes root
AMBIGUOUS = "ambiguous"  # several
SETTLING = "settling"  # still being written (the watcher waits for it to hold still)
UNREADABLE = "unreadable"  # not a container FFmpeg reads, no video stream, no frame
NO_TIMECODE = "no_timecode"  # no start timecode (tmcd track or timecode tag), or not a timecode
NO_RANGE = "no_range"  # the shot list gives no source in or out
RATE_MISMATCH = "rate_mismatch"  # the clip's rate is not the project's
OUT_OF_RANGE = "out_of_range"  # the shot's source range leaves the clip
GONE = SourceClip.Problem.GONE.value  # the clip shots rest on is gone
CHANGED = SourceClip.Problem.CHANGED.value  # ... or changed (size, mtime) since it was verified
ERROR = "error"  # the check itself failed (a bug, the database): logged with its traceback

# What a failed probe said, per (path, size, mtime_ns): the watcher does not read the file again until it changes.
ProbeMemo = dict[tuple[str, int, int], tuple[str, str]]


@dataclass(frozen=True)
class Problem:
    shot: str
    source_file: str
    kind: str
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SourcesReport:
    verified: int = 0  # shots moved to sources_verified by this check
    already: int = 0  # shots past pending
    problems: list[Problem] = field(default_factory=list)
    sources: int = 0  # source files checked
    probed: int = 0  # files probed (the others were known unchanged)

    def as_dict(self) -> dict:
        return {"verified": self.verified, "already": self.already, "problems": [p.as_dict() for p in self.problems]}


class _SourceProblem(Exception):
    """Why a source file cannot be checked: a problem of each of its shots being checked."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


@dataclass(frozen=True)
class _Clip:
    """The file a source resolves to, and what is known of it."""

    path: str
    stat: FileStat
    facts: SourceFacts
    start: int  # the start timecode as a frame count at the clip's rate
    probed: bool  # read now (to record), not from its SourceClip row


@dataclass
class _Run:
    index: RushesIndex
    now: datetime
    settling: frozenset[str]
    memo: ProbeMemo
    accept_changed: bool
    report: SourcesReport = field(default_factory=SourcesReport)


def verify_sources(
    *,
    root: Path | None = None,
    project: str | None = None,
    index: RushesIndex | None = None,
    settling: frozenset[str] = frozenset(),
    memo: ProbeMemo | None = None,
    accept_changed: bool = False,
    now: datetime | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> SourcesReport:
    """Check every shot (of `project`, by code) that has a source file; see the module's docstring.

    `index` is the rushes as a scanner already sees them (else one walk of `root`, by default
    POSTFLOW_RUSHES_PATH; RushesUnavailable if it is not there). `settling` names files still being
    written. `accept_changed` takes a changed clip as the new reference when every shot resting on
    it fits it. `progress(done, total, source name)` is called after each source file.
    """
    root = Path(root or settings.POSTFLOW_RUSHES_PATH)
    run = _Run(
        index=index or RushesIndex.walk(root),
        now=now or timezone.now(),
        settling=settling,
        memo={} if memo is None else memo,
        accept_changed=accept_changed,
    )
    groups = _shots_by_source(project)
    for done, (source, shots) in enumerate(groups, 1):
        try:
            _check_source(run, source, shots)
        except Exception as exc:  # one source's failure is its shots' problem, never the end of the check
            logger.exception("checking source %s failed", source.name)
            run.report.problems += [
                _problem(shot, ERROR, f"the check failed: {type(exc).__name__}: {exc}") for shot in shots
            ]
        if progress is not None:
            progress(done, len(groups), source.name)
    run.report.sources = len(groups)
    run.report.problems.sort(key=lambda p: (p.shot, p.source_file))
    return run.report


def _shots_by_source(project: str | None) -> list[tuple[SourceFile, list[Shot]]]:
    shots = (
        Shot.objects.filter(source_file__isnull=False, omitted=False)
        .select_related("project", "source_file__clip")
        .order_by("source_file__name", "source_file_id", "shot_number")
    )
    if project:
        shots = shots.filter(project__code=project)
    groups: dict[int, tuple[SourceFile, list[Shot]]] = {}
    for shot in shots:
        groups.setdefault(shot.source_file_id, (shot.source_file, []))[1].append(shot)
    return list(groups.values())


def _problem(shot: Shot, kind: str, detail: str) -> Problem:
    return Problem(str(shot), shot.source_file.name, kind, detail)


# --- one source file ---------------------------------------------------------------------------


def _check_source(run: _Run, source: SourceFile, shots: list[Shot]) -> None:
    pending = [shot for shot in shots if shot.status == Status.PENDING]
    resting = [shot for shot in shots if shot.status != Status.PENDING]
    recorded: SourceClip | None = getattr(source, "clip", None)
    drift = _drift(run, recorded) if recorded is not None and resting else None
    if drift is None:
        if recorded is not None and recorded.problem and resting:
            services.source_clip_clear(clip_id=recorded.pk)
            logger.info("source %s is back as it was verified", source.name)
        _check_pending(run, source, recorded, pending)
        run.report.already += len(resting)
    elif run.accept_changed and drift.kind == CHANGED:
        _accept(run, source, recorded, drift, shots)
    else:
        _flag(run, recorded, drift, shots)


def _check_pending(run: _Run, source: SourceFile, recorded: SourceClip | None, pending: list[Shot]) -> None:
    if not pending:
        return
    try:
        clip = _resolve(run, source, recorded)
    except _SourceProblem as problem:
        run.report.problems += [_problem(shot, problem.kind, problem.detail) for shot in pending]
        return
    _apply(run, source, clip, pending, {shot.pk: _misfit(shot, clip) for shot in pending})


def _accept(run: _Run, source: SourceFile, recorded: SourceClip, drift: _SourceProblem, shots: list[Shot]) -> None:
    """`--accept-changed`: the clip now there becomes the reference, if every shot resting on the one
    verified before fits it too; otherwise the change stays reported, with why it was not taken."""
    try:
        clip = _resolve(run, source, None)
    except _SourceProblem as problem:
        _flag(run, recorded, drift, shots, f"; the file now there cannot be taken instead: {problem.detail}")
        return
    misfits = {shot.pk: _misfit(shot, clip) for shot in shots}
    unfit = [misfits[shot.pk][1] for shot in shots if shot.status != Status.PENDING and misfits[shot.pk]]
    if unfit:
        _flag(run, recorded, drift, shots, f"; the new file does not fit its shots: {unfit[0]}")
        return
    logger.info("source %s: the changed clip %s accepted as the reference", source.name, clip.path)
    _apply(run, source, clip, shots, misfits)


def _apply(run: _Run, source: SourceFile, clip: _Clip, shots: list[Shot], misfits: dict) -> None:
    """Record what the probe read, move the pending shots that fit, report the others."""
    outcome = SourcesReport()
    with transaction.atomic():
        if clip.probed:
            services.source_clip_record(
                source_file_id=source.pk,
                root=run.index.root,
                path=clip.path,
                stat=clip.stat,
                facts=clip.facts,
                start_frame=clip.start,
                now=run.now,
            )
        for shot in shots:
            if shot.status != Status.PENDING:
                outcome.already += 1
            elif misfits[shot.pk]:
                outcome.problems.append(_problem(shot, *misfits[shot.pk]))
            elif _move(run, shot, clip):
                outcome.verified += 1
            else:
                outcome.already += 1
    # Counted once committed: a failure above reports every shot of the source as an error instead.
    run.report.verified += outcome.verified
    run.report.already += outcome.already
    run.report.problems += outcome.problems


def _move(run: _Run, shot: Shot, clip: _Clip) -> bool:
    """pending -> sources_verified; False if the shot moved meanwhile (a refused move is recorded)."""
    facts = clip.facts
    end = clip.start + facts.frames
    try:
        return shot_try_transition(
            shot_id=shot.pk,
            to_status=Status.SOURCES_VERIFIED,
            actor=ACTOR,
            reason=f"source {clip.path} found; the shot's source range lies inside the clip",
            details={
                "path": str(run.index.absolute(clip.path)),
                "clip": clip.path,
                "start_timecode": facts.timecode,
                "end_timecode": frames_to_timecode(end, _rate(facts.fps)),
                "frames": facts.frames,
                "fps": facts.fps,
            },
        )
    except ShotStatusError:  # moved by someone else between the read and the move
        return False


# --- finding and probing -------------------------------------------------------------------------


def _resolve(run: _Run, source: SourceFile, recorded: SourceClip | None) -> _Clip:
    """The one file named like the source, and its facts: its row's while it is unchanged, else a probe."""
    path = _locate(run, source.name)
    stat = run.index.stat(path)
    if stat is None:
        raise _SourceProblem(MISSING, f"{path} went away during the check")
    if recorded is not None and _same(stat, recorded):
        if recorded.path != path:
            services.source_clip_moved(clip_id=recorded.pk, path=path)
        facts = SourceFacts("", "", recorded.fps, recorded.frames, recorded.start_timecode)
        return _Clip(path, stat, facts, recorded.start_frame, probed=False)
    facts, start = _probe(run, path, stat)
    return _Clip(path, stat, facts, start, probed=True)


def _locate(run: _Run, name: str) -> str:
    paths = run.index.find(name)
    if len(paths) > 1:
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        raise _SourceProblem(AMBIGUOUS, f"{len(paths)} files are named {name}: {shown}; keep one, or rename the others")
    if not paths:
        unread = run.index.unreadable
        caveat = f" ({len(unread)} folder(s) could not be read: {', '.join(sorted(unread)[:3])})" if unread else ""
        raise _SourceProblem(MISSING, f"no file named {name} under {run.index.root}{caveat}")
    if paths[0] in run.settling:
        raise _SourceProblem(SETTLING, f"{paths[0]} is still being written; it is checked once it holds still")
    return paths[0]


def _probe(run: _Run, path: str, stat: FileStat) -> tuple[SourceFacts, int]:
    """The clip's facts and its start as a frame count; a failure is remembered for this size and mtime."""
    key = (path, stat.size, stat.mtime_ns)
    if key not in run.memo:
        run.report.probed += 1
        try:
            facts = probe_source(run.index.absolute(path))
            return facts, _start_frame(path, facts)
        except MediaError as exc:
            run.memo[key] = (UNREADABLE, f"{path}: {exc}")
        except _SourceProblem as problem:
            run.memo[key] = (problem.kind, problem.detail)
        except OSError as exc:  # EACCES, EIO, a symlink swapped in: not remembered, it may pass next time
            raise _SourceProblem(UNREADABLE, f"cannot read {path}: {exc.strerror or exc}") from None
    raise _SourceProblem(*run.memo[key])


def _start_frame(path: str, facts: SourceFacts) -> int:
    if not facts.timecode:
        raise _SourceProblem(NO_TIMECODE, f"{path} carries no start timecode (no tmcd track, no timecode tag)")
    try:
        return timecode_to_frames(facts.timecode, _rate(facts.fps))
    except ValueError as exc:
        raise _SourceProblem(
            NO_TIMECODE,
            f"{path}: its start timecode {facts.timecode!r} is not one at {fps_label(facts.fps)} fps ({exc})",
        ) from None


def _rate(fps: float) -> float:
    # opentime wants the exact rate (30000/1001), not the probe's rounded 29.97003.
    return float(exact_rate(fps))


# --- one shot ------------------------------------------------------------------------------------


def _misfit(shot: Shot, clip: _Clip) -> tuple[str, str] | None:
    """Why the shot's source range is not inside the clip, as (kind, detail); None if it is."""
    if shot.source_in is None or shot.source_out is None:
        return NO_RANGE, "the shot list gives no source in and out for this shot"
    project_fps = shot.project.fps
    if not same_rate(clip.facts.fps, project_fps):
        return RATE_MISMATCH, (
            f"{clip.path} runs at {fps_label(clip.facts.fps)} fps, the project at {fps_label(project_fps)} fps: "
            "its timecodes cannot be compared with the shot's"
        )
    detail = _range_detail(shot, clip.start, clip.start + clip.facts.frames, project_fps)
    return (OUT_OF_RANGE, detail) if detail else None


def _range_detail(shot: Shot, start: int, end: int, fps: float) -> str:
    """'' when [source_in, source_out) lies inside [start, end), else by how much, at which end."""

    def tc(frames: int) -> str:
        return frames_to_timecode(frames, _rate(fps))

    clip = f"the clip runs {tc(start)} to {tc(end)}"
    if shot.source_in >= end or shot.source_out <= start:
        return f"entirely outside the clip: source {tc(shot.source_in)} to {tc(shot.source_out)}, {clip}"
    misses = []
    if shot.source_in < start:
        misses.append(f"out by {_frames(start - shot.source_in)} at the in (source in {tc(shot.source_in)})")
    if shot.source_out > end:
        misses.append(f"out by {_frames(shot.source_out - end)} at the out (source out {tc(shot.source_out)})")
    return f"{' and '.join(misses)}; {clip}" if misses else ""


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"


# --- a clip shots rest on ------------------------------------------------------------------------


def _drift(run: _Run, recorded: SourceClip) -> _SourceProblem | None:
    """How the recorded clip differs from what is there now; None if it is there unchanged (or moved)."""
    if any(_is_under(recorded.path, folder) for folder in run.index.unreadable):
        return None  # its folder could not be read: nothing is known, nothing is said
    verified = f"verified {_when(recorded.verified_at)}"
    paths = run.index.find(recorded.source_file.name)
    stat = run.index.stat(recorded.path) if recorded.path in paths else None
    if stat is not None:
        if _same(stat, recorded):
            return None
        return _SourceProblem(CHANGED, f"{recorded.path} changed since it was {verified}: {_changes(recorded, stat)}")
    moved = [path for path in paths if _same(run.index.stat(path), recorded)]
    if len(moved) == 1:
        services.source_clip_moved(clip_id=recorded.pk, path=moved[0])
        return None
    if paths:
        return _SourceProblem(
            CHANGED, f"{recorded.path} ({verified}) is gone; {', '.join(paths[:3])} has its name, not its size and date"
        )
    return _SourceProblem(GONE, f"{recorded.path} ({verified}) is gone from {run.index.root}")


def _flag(run: _Run, recorded: SourceClip, drift: _SourceProblem, shots: list[Shot], more: str = "") -> None:
    detail = drift.detail + more
    services.source_clip_flag(clip_id=recorded.pk, problem=drift.kind, detail=detail, now=run.now)
    advice = (
        "restore the file" if drift.kind == GONE else "restore the file, or accept it: verify_sources --accept-changed"
    )
    detail = f"{detail}. Its shots keep their status; {advice}"
    run.report.problems += [_problem(shot, drift.kind, detail) for shot in shots]


def _same(stat: FileStat | None, recorded: SourceClip) -> bool:
    return stat is not None and (stat.size, stat.mtime_ns) == (recorded.size, recorded.mtime_ns)


def _changes(recorded: SourceClip, stat: FileStat) -> str:
    parts = []
    if stat.size != recorded.size:
        parts.append(f"size {recorded.size:,} → {stat.size:,} bytes")
    if stat.mtime_ns != recorded.mtime_ns:
        parts.append(f"modified {_when_ns(recorded.mtime_ns)} → {_when_ns(stat.mtime_ns)}")
    return ", ".join(parts)


def _when(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _when_ns(mtime_ns: int) -> str:
    return f"{datetime.fromtimestamp(mtime_ns / 1e9, tz=UTC):%Y-%m-%d %H:%M:%S} UTC"


def _is_under(path: str, folder: str) -> bool:
    return folder in ("", ".") or path.startswith(f"{folder}/")


# --- in the watcher ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RushesConfig:
    root: Path
    settle_seconds: float
    full_scan_seconds: float

    @classmethod
    def from_settings(cls) -> RushesConfig:
        return cls(
            root=Path(settings.POSTFLOW_RUSHES_PATH),
            settle_seconds=settings.POSTFLOW_SETTLE_SECONDS,
            full_scan_seconds=settings.POSTFLOW_FULL_SCAN_SECONDS,
        )


class RushesWatcher:
    """The sources check inside `manage.py watch`, driven by a scanner of its own on the rushes root.

    The render watcher's scanner keeps only render extensions (and may not cover the rushes root at
    all), while rushes come as mov, mxf, braw, r3d, ari...: this one keeps every file. Its
    incremental scan costs a stat per directory when nothing moved, and its view is the index the
    check needs, so the check walks nothing. A check runs when:

    - a file that appeared or changed has held still for POSTFLOW_SETTLE_SECONDS (a rush is still
      being copied until then: a probe would read half a file);
    - a file went away (a verified clip gone is news at once);
    - a periodic full scan ran (every POSTFLOW_FULL_SCAN_SECONDS): shots imported since have files
      that did not change. Unchanged clips are read from their rows, failed probes remembered until
      their file changes, so a check that finds nothing new probes nothing.

    `run_forever` ticks it with the render watchers: it has their `tick()` and `config.root`.
    """

    def __init__(self, config: RushesConfig, *, clock: Callable[[], datetime] = timezone.now) -> None:
        self.config = config
        self.clock = clock
        self.scanner = TreeScanner(config.root)
        self.unsettled: dict[str, datetime] = {}  # path -> when it was last seen changing
        self.memo: ProbeMemo = {}
        self.last_full: datetime | None = None
        self.available: bool | None = None
        self.last_report: SourcesReport | None = None
        self.owed = False  # a check that was due did not finish (the database went away): run it next tick

    def tick(self, *, full: bool = False) -> SourcesReport | None:
        """One scan; the check if one is due (the report), else None. Never raises for a file or the root."""
        now = self.clock()
        first = self.last_full is None
        full = full or first or (now - self.last_full).total_seconds() >= self.config.full_scan_seconds
        try:
            result = self.scanner.scan(full=full, watch=list(self.unsettled))
        except RootUnavailable as exc:
            self._availability(False, str(exc))
            return None
        self._availability(True, "")
        self.owed = self._observe(result, now) or (result.full and not first) or self.owed
        if result.full:
            self.last_full = now
        if not self.owed:
            return None
        index = RushesIndex.from_view(self.config.root, self.scanner.known())
        report = verify_sources(
            root=self.config.root, index=index, settling=frozenset(self.unsettled), memo=self.memo, now=now
        )
        self.owed = False
        self._log(report)
        return report

    def _observe(self, result: ScanResult, now: datetime) -> bool:
        """Track files settling; True if a file went away or held still long enough (a check is due)."""
        for path in {**result.appeared, **result.changed}:
            self.unsettled[path] = now
        for path in result.gone:
            self.unsettled.pop(path, None)
        held = [p for p, since in self.unsettled.items() if (now - since).total_seconds() >= self.config.settle_seconds]
        for path in held:
            del self.unsettled[path]
        return bool(result.gone or held)

    def _availability(self, available: bool, detail: str) -> None:
        if available != self.available:
            if available:
                logger.info("rushes root %s is available", self.config.root)
            else:
                logger.warning("rushes root %s unavailable, sources are not checked: %s", self.config.root, detail)
            self.available = available

    def _log(self, report: SourcesReport) -> None:
        previous, self.last_report = self.last_report, report
        if report.verified or previous is None or previous.problems != report.problems:
            logger.info(
                "sources: %s verified, %s already, %s problem(s), %s probed",
                report.verified,
                report.already,
                len(report.problems),
                report.probed,
            )
