"""Every write to the render ledger: what a scan saw, settling, verification, quarantine.

A render moves discovered -> stable -> verified -> queued (or done), or to quarantined with a
reason. Each move is a compare-and-set UPDATE on the row's state, so two watchers (or a
watcher and a producer in the admin) never both act on one render, and a restart repeats
nothing that was committed.
"""

import fnmatch
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from errno import ENOENT
from functools import partial
from pathlib import Path

import xxhash
from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from ingest import jobs
from ingest import signals as ingest_signals
from ingest.models import Render, RenderFrame, ReviewProxy, SourceClip
from ingest.naming import VERSION_RANGE, NameRangeError, bounded, parse_name
from ingest.rules import (
    IGNORE,
    REVIEW,
    ProxyRule,
    Rule,
    RuleError,
    action_for,
    evidence_rules,
    parse_proxy_rules,
    parse_rules,
    wants_proxy,
)
from ingest.scanner import FileStat, ScanResult, printable, unsafe_name_reason
from ingest.selectors import PROXY_FOLDER, ReviewFile, resolve_name, review_file, templates_for
from ingest.sequences import DEFAULT_EXTENSIONS, SequenceStat, frames_on_disk, key_parts, parse_frame
from ingest.settling import EMPTY_FILE, OLD_MTIME, moved_into_place
from ingest.verify import MediaError, MediaFacts, SourceFacts, check_ranges, checksum_xxh128, probe, probe_image
from postflow import realtime
from postflow.lib.timecode import fps_label, same_rate
from shots.models import Project, Shot
from shots.services import shot_catch_up

logger = logging.getLogger(__name__)

TEMP_SUFFIXES = (".tmp", ".part", ".partial")
SIDECAR_SUFFIX = ".done"
# States a file change sends back to `discovered` (dismissed files stay set aside until they change too).
_RESETTABLE = [s for s in Render.State.values if s != Render.State.DISCOVERED]
# States a vanished file sends to `gone`. From `verified` on, the render keeps its state (an upload in flight,
# the version count) and the vanishing is only noted in `reason`: the upload pipeline re-checks the file itself.
_GOES = [Render.State.DISCOVERED, Render.State.STABLE, Render.State.QUARANTINED]
_VANISHED = "file vanished while "
# A verified render for review that Frame.io gets as a proxy (every image sequence, a movie POSTFLOW_PROXY_FOR
# names) waits in `verified` (it holds its version) while the proxy job builds it; `proxy_mark_ready` queues it.
PROXY_WAITING = "waiting for its review proxy"
PROXY_FAILED = "review proxy failed: "
# A proxy whose encode failed for another reason than its media (the mount, a crash) is tried this many times.
PROXY_MAX_ATTEMPTS = 3
# A worker encoding a proxy renews its lease with each progress write (every second or so); one that died
# leaves it to expire, and the reconciler's next job takes the proxy over.
PROXY_LEASE = timedelta(seconds=120)
# The longest path the ledger holds (PostgreSQL refuses a longer one; SQLite would take it): the scanner
# rejects longer paths, and `stored_path` shortens the form a rejected one is stored under.
PATH_MAX_CHARS = Render._meta.get_field("path").max_length
# What the database refuses because of one row's values: a lone surrogate (UnicodeEncodeError, from the
# driver), a number SQLite cannot hold (OverflowError), a value too long or out of range for PostgreSQL
# (DataError). Such a failure is that file's problem and stays with it. Anything else (a lock, a lost
# connection, a bug) is everyone's, and fails the scan, which the watcher repeats.
_ROW_ERRORS = (DataError, UnicodeEncodeError, OverflowError)
# Size, mtime and inode are stored in signed 64-bit columns. A modification time after 2262-04-11 (or
# before 1677) counted in nanoseconds does not fit: `touch -d 2300-01-01` or a remote clock gone wild.
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class WatchConfig:
    root: Path
    settle_seconds: float
    templates: list[str]
    extensions: frozenset[str]
    tolerance_frames: int
    rules: list[Rule] = field(default_factory=list)
    # Folders under the root whose files are never renders (relative, / separators): the rushes.
    excluded: tuple[str, ...] = ()
    # Files that are evidence of a shot's stage, never renders (ingest.evidence): "glob=status"; a project's
    # own rules (Project.evidence_rules, by project id) replace these for its shots.
    evidence: list[Rule] = field(default_factory=list)
    project_evidence: dict[int, list[Rule]] = field(default_factory=dict)
    # Numbered frames with these extensions are image sequences (ingest.sequences), one render each.
    sequence_extensions: frozenset[str] = frozenset(DEFAULT_EXTENSIONS)
    # Which renders for review go to Frame.io as a review proxy (POSTFLOW_PROXY_FOR); sequences always do.
    proxy_rules: list[ProxyRule] = field(default_factory=lambda: [ProxyRule("sequence")])

    @classmethod
    def from_settings(cls, root: Path | None = None) -> "WatchConfig":
        root = Path(root or settings.LUCIDLINK_MOUNT_PATH)
        return cls(
            root=root,
            settle_seconds=settings.POSTFLOW_SETTLE_SECONDS,
            templates=list(settings.POSTFLOW_NAMING_TEMPLATES),
            extensions=frozenset(settings.POSTFLOW_RENDER_EXTENSIONS),
            tolerance_frames=settings.POSTFLOW_DURATION_TOLERANCE_FRAMES,
            rules=parse_rules(settings.POSTFLOW_STAGE_RULES),
            excluded=_folders_inside(root, [Path(settings.POSTFLOW_RUSHES_PATH), *_proxy_path()]),
            evidence=evidence_rules(settings.POSTFLOW_EVIDENCE_RULES),
            sequence_extensions=frozenset(settings.POSTFLOW_SEQUENCE_EXTENSIONS),
            proxy_rules=parse_proxy_rules(settings.POSTFLOW_PROXY_FOR),
        )

    @property
    def root_key(self) -> str:
        return str(self.root)

    def is_render(self, relpath: str) -> bool:
        if self.never_a_render(relpath):
            return False
        return relpath.rpartition(".")[2].lower() in self.extensions and "." in relpath.rsplit("/", 1)[-1]

    def tracks(self, name: str) -> bool:
        """What the scanner keeps: renders, numbered images (frames of a sequence, once two of them share a
        pattern), temp names and sidecars, which say a render is complete, and the names evidence rules
        look for (the last part of their globs: `*.aep`). By name alone: the scanner does not know the
        folder's meaning yet."""
        lower = name.lower()
        if self.is_render(name) or lower.endswith(TEMP_SUFFIXES) or lower.endswith(SIDECAR_SUFFIX):
            return True
        if any(fnmatch.fnmatchcase(name, rule.pattern.rsplit("/", 1)[-1]) for rule in self.all_evidence()):
            return True
        return parse_frame(name, self.sequence_extensions) is not None

    def never_a_render(self, relpath: str) -> bool:
        """Under the rushes (a camera .mov is a source), a review proxy (postflow's own output), or an
        evidence file (EbSynth key frames, an After Effects project: evidence of a stage, not a version)."""
        if any(_is_under(relpath, folder) for folder in self.excluded) or PROXY_FOLDER in relpath.split("/"):
            return True
        return any(fnmatch.fnmatchcase(relpath, rule.pattern) for rule in self.all_evidence())

    def all_evidence(self) -> list[Rule]:
        """Every evidence rule in force, the setting's and the projects' own: what the watcher tracks and
        never takes for a render (the shot, and so its project, is known only later)."""
        return [*self.evidence, *(rule for rules in self.project_evidence.values() for rule in rules)]

    def evidence_for(self, project_id: int) -> list[Rule]:
        """A project's evidence rules: its own (Project.evidence_rules), else POSTFLOW_EVIDENCE_RULES."""
        return self.project_evidence.get(project_id) or self.evidence

    def with_project_evidence(self) -> "WatchConfig":
        """This config with the projects' own evidence rules as the admin has them now. A stored list
        that does not parse (written around the admin's validation) is logged and left out."""
        rules = {}
        for project_id, entries in Project.objects.values_list("pk", "evidence_rules"):
            if not entries:
                continue
            try:
                rules[project_id] = evidence_rules(entries)
            except RuleError as exc:
                logger.warning("project %s: its evidence rules are left out: %s", project_id, exc)
        return replace(self, project_evidence=rules)

    def is_render_entry(self, relpath: str, stat: FileStat) -> bool:
        """What a (sequence-folded) scan entry is for the ledger: a movie, or a whole image sequence."""
        return self.is_render(relpath) or (isinstance(stat, SequenceStat) and not self.never_a_render(relpath))


def _proxy_path() -> list[Path]:
    return [Path(settings.POSTFLOW_PROXY_PATH)] if settings.POSTFLOW_PROXY_PATH else []


def _folders_inside(root: Path, folders: list[Path]) -> tuple[str, ...]:
    """The folders that lie under `root` (the root itself excluded), relative to it."""
    base = os.path.abspath(root)
    inside = []
    for folder in folders:
        relative = os.path.relpath(os.path.abspath(folder), base)
        if relative != "." and relative != ".." and not relative.startswith("../"):
            inside.append(Path(relative).as_posix())
    return tuple(inside)


class VerifyError(Exception):
    """A verification step failed for a reason that quarantines the render."""


# A released row stored under an escaped or shortened path (`stored_path`): it names no file to read.
_ESCAPED_PATH = (
    "the name is stored escaped (it holds bytes that are not UTF-8, characters that cannot be shown or a "
    "backslash, or the path is too long): rename the file"
)


# --- what a scan saw ---------------------------------------------------------------------


def render_observe(*, config: WatchConfig, result: ScanResult, signals: dict[str, str], now: datetime) -> None:
    """Bring the ledger in line with a scan: new files, changed files, vanished files, unsafe ones.

    Not one transaction around the scan: each row is written on its own (new rows in batches), so the write
    lock is held for moments, and a row the database refuses is quarantined alone while every other file is
    recorded. Each step can be repeated: after a failed scan the watcher re-reports it whole.
    """
    seen = {**result.appeared, **result.changed}
    # Sequences come folded by ingest.sequences.SequenceIndex: one entry per pattern, its stat a SequenceStat.
    renders = {path: stat for path, stat in seen.items() if config.is_render_entry(path, stat)}
    existing = {
        row.path: row for row in Render.objects.filter(root=config.root_key, path__in=list(renders) + list(result.gone))
    }
    _observe_renders(config, renders, existing, signals, now)
    for path, signal in signals.items():  # a sidecar may arrive after its render: few, cheap
        Render.objects.filter(
            root=config.root_key, path=path, state=Render.State.DISCOVERED, completion_signal=""
        ).update(completion_signal=signal)
    for path in result.gone:
        row = existing.get(path)
        if row is not None:
            _mark_vanished(row)
    for path, reason in result.rejected.items():
        _per_row(config, path, now, partial(render_quarantine_path, config=config, path=path, reason=reason, now=now))


def _observe_renders(
    config: WatchConfig,
    renders: dict[str, FileStat],
    existing: dict[str, Render],
    signals: dict[str, str],
    now: datetime,
) -> None:
    new = []
    for path, stat in renders.items():
        signal = signals.get(path) or _moved_signal(config, stat, now)
        row = existing.get(path)
        problem = _stat_problem(stat)
        if problem:
            _per_row(
                config, path, now, partial(render_quarantine_path, config=config, path=path, reason=problem, now=now)
            )
        elif row is None:
            new.append(_new_render(config, path, stat, now, signal))
        else:
            write = _known_write(row, stat, now, signal)
            if write is not None:  # most known files are unchanged: no transaction for them
                _per_row(config, path, now, write)
    _create(config, new, now)


def _moved_signal(config: WatchConfig, stat: FileStat, now: datetime) -> str:
    """OLD_MTIME for a movie with data whose mtime was already a settle window old when this stat was seen:
    moved into place (`mv`, rsync), so one confirming scan will do. Not for a sequence: its newest frame
    being old says nothing of frames still on their way."""
    if isinstance(stat, SequenceStat) or stat.size <= 0:
        return ""
    return OLD_MTIME if moved_into_place(mtime_ns=stat.mtime_ns, now=now, settle_seconds=config.settle_seconds) else ""


def _stat_problem(stat: FileStat) -> str | None:
    """Why the ledger cannot hold this stat (a number out of its signed 64-bit columns), or None."""
    low, high = _INT64
    if not low <= stat.mtime_ns <= high:
        year = 1970 + stat.mtime_ns // 1_000_000_000 // 31_556_952  # Gregorian years, near enough for a message
        return f"modification time (year {year}) is out of range (1677 to 2262): touch the file to set it"
    if not low <= stat.inode <= high:
        # Some filesystems hand out unsigned 64-bit inode numbers; the ledger and the upload's check compare
        # them as stored, so such a file is set aside whole rather than stored wrong.
        return f"inode number {stat.inode:,} is out of range (the ledger holds up to {high:,})"
    if not low <= stat.size <= high:
        return f"size {stat.size:,} bytes is out of range"
    return None


def _known_write(row: Render, stat: FileStat, now: datetime, signal: str) -> Callable[[], object] | None:
    """What a scan that saw a known render asks of its row, or None."""
    moved = (row.size, row.mtime_ns, row.inode) != (stat.size, stat.mtime_ns, stat.inode)
    # A frame set can move without its total size or newest mtime (a frame renumbered, say): compared too.
    moved = moved or any(getattr(row, name) != value for name, value in _sequence_fields(stat).items())
    if moved or row.state == Render.State.GONE:
        # A gone file back with the same stat (moved out and back, a flaky listing) starts over too.
        return partial(_render_changed, row, stat, now, signal)
    if row.reason.startswith(_VANISHED):
        return partial(Render.objects.filter(pk=row.pk, reason=row.reason).update, reason="")
    return None


def _create(config: WatchConfig, new: list[Render], now: datetime) -> None:
    """Insert new rows in batches; a batch the database refuses is inserted again row by row, so that only
    the row at fault is left out (and quarantined)."""
    for start in range(0, len(new), 500):
        batch = new[start : start + 500]
        try:
            with transaction.atomic():
                # ignore_conflicts: a second watcher on the same root may record the same new file at the same moment.
                Render.objects.bulk_create(batch, ignore_conflicts=True)
        except _ROW_ERRORS:
            for row in batch:
                _per_row(config, row.path, now, partial(Render.objects.bulk_create, [row], ignore_conflicts=True))


def _per_row(config: WatchConfig, path: str, now: datetime, write: Callable[[], object]) -> None:
    """Run one row's write in its own transaction (a savepoint inside the caller's); if the database refuses
    the row's values, quarantine the path with the database's words instead, and go on with the next row."""
    try:
        with transaction.atomic():
            write()
    except _ROW_ERRORS as exc:
        reason = f"the ledger cannot record this file ({type(exc).__name__}: {printable(str(exc))})"
        logger.warning("render %s: %s", stored_path(path), reason)
        try:
            with transaction.atomic():
                render_quarantine_path(config=config, path=path, reason=reason, now=now)
        except _ROW_ERRORS:
            logger.exception("render %s cannot even be quarantined; it is left out of the ledger", stored_path(path))


def stored_path(relpath: str) -> str:
    r"""The form under which the ledger stores a path the scanner reported.

    A path the scanner accepts is stored as it is. A rejected one may hold bytes that are not UTF-8 (lone
    surrogates, which SQLite and PostgreSQL refuse) or characters a log line or a page cannot show: it is
    stored as its `printable` form, so the producer reads `UNDLM_00209_v012\xff\xfe.mov`. That form holds a
    backslash, which no accepted name does, so it never names a real file: such a row can only be
    quarantined (`render_verify` refuses it). A form longer than the column is cut, and ends with a
    backslash, the length of the whole form and a digest of the path, so that two long paths never share a
    row.
    """
    text = printable(relpath)
    if len(text) <= PATH_MAX_CHARS:
        return text
    digest = hashlib.blake2b(os.fsencode(relpath), digest_size=6).hexdigest()
    tail = f"\\… ({len(text):,} characters, {digest})"
    budget, pieces = PATH_MAX_CHARS - len(tail), []
    for char in relpath:  # cut between characters, never inside an escape
        piece = printable(char)
        budget -= len(piece)
        if budget < 0:
            break
        pieces.append(piece)
    return "".join(pieces) + tail


def render_mark_missing(
    *, config: WatchConfig, present: dict[str, FileStat], unscanned: list[str], now: datetime
) -> int:
    """After a full scan: `gone` for the renders not yet verified whose file is not there any more.

    A scanner reports only what changed in its own view, and a restarted watcher's view starts
    empty: a file deleted while no watcher ran would stay `discovered`, settle, fail to open and
    start over forever. Verified renders and later keep their state either way (the upload
    pipeline checks the file itself), so a wrong call here costs at most a settle window: a `gone`
    render whose file shows again starts over.

    Left alone: rows under a directory the scan could not read (`unscanned`); rows observed within
    the settle window (another watcher's machine may see a file this one does not see yet); and
    everything when the scan found no file at all (an unmounted mount point is an empty folder).
    """
    candidates = Render.objects.filter(
        root=config.root_key,
        state__in=[Render.State.DISCOVERED, Render.State.STABLE],
        observed_since__lte=now - timedelta(seconds=config.settle_seconds),  # as render_settle counts it
    ).only("pk", "path", "state")
    missing = [
        row
        for row in candidates.iterator(chunk_size=2000)
        if row.path not in present and not any(_is_under(row.path, folder) for folder in unscanned)
    ]
    if missing and not present:
        logger.warning(
            "watch root %s holds no file at all: %s renders not marked gone (is the mount there?)",
            config.root,
            len(missing),
        )
        return 0
    return sum(_mark_vanished(row) for row in missing)


def _is_under(path: str, folder: str) -> bool:
    return folder == "" or path == folder or path.startswith(f"{folder}/")


def _mark_vanished(row: Render) -> bool:
    """Before verification a vanished render is `gone`; from `verified` on, the reason notes it.
    True if the row changed (so each vanishing is logged once)."""
    if row.state in (Render.State.GONE, Render.State.DISMISSED):
        return False
    if row.state in _GOES:
        changed = Render.objects.filter(pk=row.pk, state=row.state).update(
            state=Render.State.GONE, reason=f"vanished while {row.state}"
        )
    else:
        changed = (
            Render.objects.filter(pk=row.pk, state=row.state)
            .exclude(reason__startswith=_VANISHED)
            .update(reason=f"{_VANISHED}{row.state}")
        )
    if changed:
        logger.info("render %s vanished while %s", row.path, row.state)
    return bool(changed)


def render_revive(*, config: WatchConfig, present: dict[str, FileStat], now: datetime) -> int:
    """Start over every `gone` render whose file a full scan found present (another watcher, or a flaky
    listing, marked it gone while this scanner's view kept it unchanged, so no scan reports it)."""
    gone = Render.objects.filter(root=config.root_key, state=Render.State.GONE).only("pk", "path", "state", "size")
    revived = [row for row in gone if row.path in present]
    for row in revived:
        _render_changed(row, present[row.path], now, _moved_signal(config, present[row.path], now))
    return len(revived)


def _new_render(config: WatchConfig, path: str, stat: FileStat, now: datetime, signal: str) -> Render:
    return Render(
        root=config.root_key,
        path=path,
        size=stat.size,
        mtime_ns=stat.mtime_ns,
        inode=stat.inode,
        first_seen=now,
        observed_since=now,
        completion_signal=signal,
        reason=_held_reason(stat),
        **_sequence_fields(stat),
    )


def _sequence_fields(stat: FileStat) -> dict[str, object]:
    """The ledger's frame-set fields for a sequence's stat; none for a movie's."""
    if not isinstance(stat, SequenceStat):
        return {}
    return {
        "kind": Render.Kind.SEQUENCE,
        "first_frame": stat.first,
        "last_frame": stat.last,
        "padding": stat.padding,
        "frame_count": stat.count,
        "missing": stat.missing,
    }


def _held_reason(stat: FileStat) -> str:
    """Why a render waits in `discovered` beyond the settle window: no data yet (0 bytes), or a sequence's
    gaps. Not quarantined: the data or the frames may still be on their way (a LucidLink placeholder, a
    render farm writing out of order), and the file changing moves it like any new data."""
    if stat.size == 0:
        return EMPTY_FILE
    return f"missing frames {stat.missing}" if isinstance(stat, SequenceStat) and stat.missing else ""


def _render_changed(row: Render, stat: FileStat, now: datetime, signal: str) -> None:
    """A file whose size, mtime or inode moved starts over, whatever it had become."""
    reason = ""
    if row.state not in (Render.State.DISCOVERED, Render.State.GONE):
        reason = f"changed after {row.state} (size {row.size} → {stat.size})"
        logger.info("render %s %s", row.path, reason)
    reason = "; ".join(filter(None, [_held_reason(stat), reason]))
    if row.kind == Render.Kind.SEQUENCE:
        RenderFrame.objects.filter(render_id=row.pk).delete()  # digests of frames that are not these any more
    Render.objects.filter(pk=row.pk).update(
        **_sequence_fields(stat),
        size=stat.size,
        mtime_ns=stat.mtime_ns,
        inode=stat.inode,
        observed_since=now,
        stable_since=None,
        state=Render.State.DISCOVERED,
        reason=reason,
        completion_signal=signal,
        shot=None,
        version=None,
        checksum="",
        media={},
        verified_at=None,
    )


def render_quarantine_path(*, config: WatchConfig, path: str, reason: str, now: datetime) -> None:
    """Quarantine a path the scanner refused (unsafe name, symlink out of the root, path too long), or a
    file the ledger cannot hold (a number out of range), under its stored form (`stored_path`)."""
    path = stored_path(path)
    row, created = Render.objects.get_or_create(
        root=config.root_key,
        path=path,
        defaults={"first_seen": now, "observed_since": now, "state": Render.State.QUARANTINED, "reason": reason},
    )
    if not created and row.state not in (Render.State.QUARANTINED, Render.State.DISMISSED):
        # A known render whose stat went out of range: it holds no version any more (as render_quarantine).
        Render.objects.filter(pk=row.pk).update(state=Render.State.QUARANTINED, reason=reason, shot=None, version=None)
    if created or row.reason != reason:
        logger.warning("quarantined %s: %s", path, reason)
        _publish_render(row.pk)


def render_settle(*, config: WatchConfig, now: datetime) -> int:
    """discovered -> stable for renders with data whose (size, mtime) held across the settle
    window, or, when the writer signalled completion (a `.tmp` rename, a `.done` sidecar, or an
    mtime already a window old when first seen: `completion_signal`), across one more scan. Call
    it only after a successful scan: the window must be spanned by real observations. Why a
    render still waits, and until when, is `ingest.settling.settle_wait`."""
    # A sequence with gaps is held (its reason names them) until they are filled: missing="" for every movie.
    discovered = Render.objects.filter(root=config.root_key, state=Render.State.DISCOVERED, size__gt=0, missing="")
    settled = discovered.filter(observed_since__lte=now - timedelta(seconds=config.settle_seconds))
    signalled = discovered.exclude(completion_signal="").filter(observed_since__lt=now)
    count = settled.update(state=Render.State.STABLE, stable_since=now)
    return count + signalled.update(state=Render.State.STABLE, stable_since=now)


# --- verification ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    """What verification learnt from the disk, before it is written."""

    shot: Shot
    version: int
    checksum: str
    facts: MediaFacts
    media: dict = field(default_factory=dict)  # facts the MediaFacts do not hold (a sequence's)
    frames: list[tuple[int, int, str]] = field(default_factory=list)  # a sequence's (frame, size, xxh128)


def render_verify(*, render_id: int, config: WatchConfig, now: datetime) -> Render:
    """stable -> verified and then queued/done, or quarantined with the reason.

    Reads the whole file (checksum, probe), or every frame of a sequence, outside any transaction; writes are
    conditional on the row still being `stable`, so a file that changed meanwhile is not verified. An I/O
    error (the mount went away) leaves the render stable, to be tried again next scan.
    """
    render = Render.objects.get(pk=render_id)
    if render.state != Render.State.STABLE:
        return render
    read_it = _read_sequence if render.is_sequence else _read_movie
    try:
        if "\\" in render.path:
            raise VerifyError(_ESCAPED_PATH)
        read = read_it(render, config, now)
        if read is None:
            return render
    except (VerifyError, MediaError) as exc:
        return render_quarantine(render_id=render.pk, reason=str(exc), from_state=Render.State.STABLE)
    except OSError as exc:
        if exc.errno == ENOENT:
            # Vanished: retrying every scan would never end; the scan (it re-stats discovered files) marks it gone.
            _back_to_discovered(render, now, "vanished before verification")
            return render
        logger.warning("cannot read render %s yet (%s); will try again", render.path, exc.strerror or exc)
        return render
    return _render_verified(render, read=read, config=config, now=now)


def _read_movie(render: Render, config: WatchConfig, now: datetime) -> _Read | None:
    """The movie's shot, checksum and probe; None if it changed (and went back to `discovered`)."""
    absolute = safe_path(config.root, render.path)
    if not _unchanged(render, absolute):
        _back_to_discovered(render, now, "changed before verification")
        return None
    shot, version = _shot_and_version(render, Path(render.path).name, config)
    checksum = checksum_xxh128(absolute)
    if not _unchanged(render, absolute):
        _back_to_discovered(render, now, "changed while it was read")
        return None
    facts = probe(absolute)
    _check_media(facts, shot, config.tolerance_frames)
    return _Read(shot, version, checksum, facts)


def _read_sequence(render: Render, config: WatchConfig, now: datetime) -> _Read | None:
    """A sequence's shot, one xxh3-128 per frame, and one frame probed; None if a frame changed.

    The frames are listed again from the directory (not taken from the last scan): what is checked is what
    is there. The sequence's checksum is an xxh3-128 over "frame digest" lines in frame order, so a frame
    renumbered, replaced or missing changes it.
    """
    directory, base, _, ext = key_parts(render.path)
    folder = safe_path(config.root, directory) if directory else config.root
    frames, stat = frames_on_disk(folder, render.path, config.sequence_extensions)
    if not _same_sequence(render, stat):
        _back_to_discovered(render, now, "changed before verification")
        return None
    shot, version = _shot_and_version(render, f"{base.rstrip('._')}.{ext}", config)
    digests = [
        (number, path.stat(follow_symlinks=False).st_size, checksum_xxh128(path)) for number, path in frames.items()
    ]
    if not _same_sequence(render, frames_on_disk(folder, render.path, config.sequence_extensions)[1]):
        _back_to_discovered(render, now, "changed while it was read")
        return None
    combined = xxhash.xxh3_128("".join(f"{number} {digest}\n" for number, _, digest in digests).encode())
    facts, media = _sequence_facts(render, frames, shot)
    _check_media(facts, shot, config.tolerance_frames)
    return _Read(shot, version, combined.hexdigest(), facts, media, digests)


def _same_sequence(render: Render, stat: SequenceStat | None) -> bool:
    if stat is None:
        return False
    fields = {"size": stat.size, "mtime_ns": stat.mtime_ns, "inode": stat.inode, **_sequence_fields(stat)}
    return all(getattr(render, name) == value for name, value in fields.items())


def _sequence_facts(render: Render, frames: dict[int, Path], shot: Shot) -> tuple[MediaFacts, dict]:
    """One frame probed (the first: frames of one render share size and format); the rate is the project's,
    as an image carries none, so the rate check always passes and the frame count is what is judged."""
    codec, width, height, pix_fmt = probe_image(next(iter(frames.values())))
    facts = MediaFacts(
        container="image sequence",
        codec=codec,
        width=width,
        height=height,
        fps=float(shot.project.fps),
        frames=render.frame_count,
        declared_frames=render.last_frame - render.first_frame + 1,
    )
    check_ranges(facts)
    media = {"kind": "sequence", "format": codec, "pix_fmt": pix_fmt, "first_frame": render.first_frame}
    return facts, {**media, "last_frame": render.last_frame, "padding": render.padding}


def _shot_and_version(render: Render, name: str, config: WatchConfig) -> tuple[Shot, int]:
    """The shot and version the name points to, free (no other render holds it); else VerifyError."""
    resolution = resolve_name(name, config.templates)
    if resolution.shot is None:
        raise VerifyError(_with_suggestions(resolution.problem, resolution.suggestions))
    shot, version = resolution.shot, resolution.parsed.version
    _check_collision(render, shot, version)
    return shot, version


def safe_path(root: Path, relpath: str) -> Path:
    """The absolute path of `relpath`, which must stay inside `root` and not be a symlink."""
    candidate = root / relpath
    resolved = candidate.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise VerifyError(f"{relpath} resolves outside the watch root")
    if candidate.is_symlink():
        raise VerifyError(f"{relpath} is a symlink; renders are read only from real files")
    return candidate


def render_check_unchanged(*, render_id: int) -> str:
    """For the upload pipeline, just before it reads the file: '' if the file that goes to Frame.io
    (`ingest.selectors.review_file`) is still the one verified (size, mtime, inode) or, for a review
    proxy, the one written (and its xxh3-128 still the one recorded: it is small), else why not."""
    render = Render.objects.get(pk=render_id)
    file = review_file(render)
    if file.problem:
        return file.problem
    try:
        if file.is_proxy:
            return _proxy_problem(file)
        absolute = safe_path(Path(render.root), render.path)
        same = _unchanged(render, absolute)
    except (VerifyError, OSError) as exc:
        return str(exc)
    return "" if same else "the file changed since it was verified"


def _proxy_problem(file: ReviewFile) -> str:
    """Why the proxy on disk is not the one recorded, or ''. A proxy is postflow's own file: lstat, so a
    symlink put in its place is a change."""
    stat = os.stat(file.path, follow_symlinks=False)
    if (stat.st_size, stat.st_mtime_ns, stat.st_ino) != (file.size, file.mtime_ns, file.inode):
        return "its review proxy changed since it was written"
    if checksum_xxh128(file.path) != file.checksum:
        return "its review proxy's checksum is not the one recorded"
    return ""


def _unchanged(render: Render, absolute: Path) -> bool:
    stat = os.stat(absolute, follow_symlinks=False)
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino) == (render.size, render.mtime_ns, render.inode)


def _back_to_discovered(render: Render, now: datetime, reason: str) -> None:
    Render.objects.filter(pk=render.pk, state=Render.State.STABLE).update(
        state=Render.State.DISCOVERED, observed_since=now, stable_since=None, reason=reason
    )


def _with_suggestions(problem: str, suggestions: tuple[str, ...]) -> str:
    return f"{problem}; did you mean {' or '.join(suggestions)}?" if suggestions else problem


def _check_collision(render: Render, shot: Shot, version: int) -> None:
    holder = (
        Render.objects.filter(shot=shot, version=version, state__in=Render.VERSION_STATES)
        .exclude(pk=render.pk)
        .values_list("path", flat=True)
        .first()
    )
    if holder:
        raise VerifyError(f"version {version} of {shot} is already held by {holder}")


def _check_media(facts: MediaFacts, shot: Shot, tolerance: int) -> None:
    project_fps = shot.project.fps
    if not same_rate(facts.fps, project_fps):
        raise VerifyError(f"frame rate {fps_label(facts.fps)} fps, the project is at {fps_label(project_fps)} fps")
    if shot.duration is None:
        return
    difference = facts.frames - shot.duration
    if abs(difference) > tolerance:
        longer = "longer" if difference > 0 else "shorter"
        raise VerifyError(
            f"{facts.frames} frames, {abs(difference)} frames {longer} than the shot ({shot.duration} frames; "
            f"tolerance {tolerance}, POSTFLOW_DURATION_TOLERANCE_FRAMES)"
        )


def _render_verified(render: Render, *, read: _Read, config: WatchConfig, now: datetime) -> Render:
    action = action_for(render.path, config.rules)
    shot, version, facts = read.shot, read.version, read.facts
    try:
        with transaction.atomic():
            # The stat too: another watcher may have seen the file change (and settle again) during the probe.
            claimed = Render.objects.filter(
                pk=render.pk,
                state=Render.State.STABLE,
                size=render.size,
                mtime_ns=render.mtime_ns,
                inode=render.inode,
                frame_count=render.frame_count,
            ).update(
                state=Render.State.VERIFIED,
                shot=shot,
                version=version,
                checksum=read.checksum,
                media={**facts.as_dict(), **read.media, "frames_vs_shot": _difference(facts, shot)},
                verified_at=now,
                rule=action,
                reason="",
            )
            if claimed:
                _save_frames(render, read.frames)
                ingest_signals.render_verified.send(sender=Render, render_id=render.pk)
                _after_verified(render, shot=shot, action=action, read=read, proxy_rules=config.proxy_rules, now=now)
                _publish_render(render.pk)
    except IntegrityError:
        # Another watcher verified a different file as the same version at the same moment.
        return render_quarantine(
            render_id=render.pk, reason=f"version {version} of {shot} is already held", from_state=Render.State.STABLE
        )
    render.refresh_from_db()
    logger.info("render %s verified as %s v%03d (%s)", render.path, shot, version, render.state)
    return render


def _save_frames(render: Render, frames: list[tuple[int, int, str]]) -> None:
    """A sequence's per-frame digests, replacing those of an earlier verification (with the claim: a
    render is verified with its frames or not at all)."""
    if not render.is_sequence:
        return
    RenderFrame.objects.filter(render_id=render.pk).delete()
    rows = (RenderFrame(render_id=render.pk, frame=n, size=size, checksum=digest) for n, size, digest in frames)
    RenderFrame.objects.bulk_create(rows, batch_size=2000)


def _after_verified(
    render: Render, *, shot: Shot, action: str, read: _Read, proxy_rules: list[ProxyRule], now: datetime
) -> None:
    facts = {"codec": read.facts.codec, "width": read.facts.width, "height": read.facts.height}
    if action == REVIEW and wants_proxy(proxy_rules, is_sequence=render.is_sequence, **facts):
        proxy_request(render_id=render.pk, checksum=read.checksum, now=now)
        return
    _apply_rule(render.pk, shot=shot, action=action, now=now, evidence=render.path)


def _difference(facts: MediaFacts, shot: Shot) -> int | None:
    return None if shot.duration is None else facts.frames - shot.duration


def _apply_rule(render_id: int, *, shot: Shot, action: str, now: datetime, evidence: str) -> None:
    if action == REVIEW:
        # queued_at is the moment of queueing, not the tick's start: a failed upload is restarted only by a
        # queueing after it ended (frameio.uploads.states), and a re-hash can take minutes.
        Render.objects.filter(pk=render_id).update(state=Render.State.QUEUED, queued_at=timezone.now())
        # The upload pipeline (above ingest) enqueues its job on commit: it must find the row queued.
        ingest_signals.render_queued.send(sender=Render, render_id=render_id)
        return
    Render.objects.filter(pk=render_id).update(state=Render.State.DONE)
    if action != IGNORE:
        # The render is evidence: a shot behind it catches up step by step (a refusal only backwards).
        shot_catch_up(
            shot_id=shot.pk, to_status=action, actor="watcher", evidence=evidence, details={"render_id": render_id}
        )


# --- producers' actions (admin) ----------------------------------------------------------


def render_quarantine(*, render_id: int, reason: str, from_state: str | None = None) -> Render:
    renders = Render.objects.filter(pk=render_id)
    if from_state is not None:
        renders = renders.filter(state=from_state)
    if renders.update(state=Render.State.QUARANTINED, reason=reason, shot=None, version=None):
        logger.warning("quarantined render %s: %s", render_id, reason)
        _publish_render(render_id)
    return Render.objects.get(pk=render_id)


# --- the upload pipeline's moves ------------------------------------------------------------


def render_mark_uploaded(*, render_id: int, checksum: str) -> bool:
    """queued -> uploaded, once the upload pipeline has these bytes (this checksum) in Frame.io. A
    render the watcher reset or verified again meanwhile (another state, other content) is left
    alone. Returns True if the render moved."""
    moved = Render.objects.filter(pk=render_id, state=Render.State.QUEUED, checksum=checksum).update(
        state=Render.State.UPLOADED
    )
    if moved:
        _publish_render(render_id)
    return bool(moved)


def render_return_to_watcher(*, render_id: int, checksum: str, reason: str, now: datetime | None = None) -> bool:
    """queued -> gone (its file is not there any more) or discovered (there, but not what was
    verified): the upload pipeline could not read the verified file, so the watcher takes it back
    instead of the upload retrying forever. A gone render starts over when its file shows again; a
    discovered one settles and is verified again. Compare-and-set on the queued content."""
    render = Render.objects.filter(pk=render_id, state=Render.State.QUEUED, checksum=checksum).first()
    if render is None:
        return False
    # A sequence's path is a pattern, never a file: it starts over as discovered, and a full scan marks it gone
    # if its frames are not there any more (render_mark_missing).
    present = render.is_sequence or os.path.lexists(Path(render.root) / render.path)
    target = Render.State.DISCOVERED if present else Render.State.GONE
    moved = Render.objects.filter(pk=render_id, state=Render.State.QUEUED, checksum=checksum).update(
        state=target,
        reason=f"{reason}; back to the watcher",
        observed_since=now or timezone.now(),
        stable_since=None,
    )
    if moved:
        logger.warning("render %s: %s; back to the watcher (%s)", render.path, reason, target)
        _publish_render(render_id)
    return bool(moved)


NOT_VERIFIED = "uploaded with manage.py frameio_upload --no-verify: not verified (name, media, duration, rate)"


def render_queue_by_hand(
    *,
    path: Path,
    shot: Shot,
    version: int | None,
    templates: list[str],
    tolerance_frames: int | None = None,
    verify: bool = True,
) -> Render:
    """A file given by hand (`manage.py frameio_upload`), recorded as a queued render of `shot` for
    review. The version comes from `version`, else from the name, else the shot's next one. The same
    unchanged file given again is the row already recorded (the upload resumes). Raises VerifyError,
    before any version is taken, if the name is unsafe, the version out of range or held by another
    file, or (unless `verify` is False) the watcher's verification fails: the reason is the one the
    watcher would store. `verify=False` is recorded in the render's reason. The caller runs the upload
    itself: no job is enqueued."""
    root, name = path.parent, path.name
    unsafe = unsafe_name_reason(name)
    if unsafe:
        raise VerifyError(unsafe)  # what the watcher quarantines, the ledger does not take by hand either
    existing = Render.objects.filter(root=str(root), path=name).first()
    stat = os.stat(path)
    resumable = existing and existing.state in Render.VERSION_STATES
    if resumable and (existing.size, existing.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
        return existing  # run again after a failure or a crash: resume
    version = _version_by_hand(name, shot, version, templates)
    safe_path(root, name)
    if verify:
        _check_name_by_hand(name, shot, templates)
        _check_collision(existing or Render(), shot, version)
    checksum = checksum_xxh128(path)
    media = _media_by_hand(path, shot, tolerance_frames) if verify else {}
    now = timezone.now()
    fields = {
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "inode": stat.st_ino,
        "first_seen": now,
        "observed_since": now,
        "stable_since": now,
        "state": Render.State.QUEUED,
        "shot": shot,
        "version": version,
        "checksum": checksum,
        "media": media,
        "verified_at": now,
        "queued_at": now,
        "rule": "review",
        "reason": "uploaded with manage.py frameio_upload" if verify else NOT_VERIFIED,
    }
    try:
        with transaction.atomic():
            render, _ = Render.objects.update_or_create(root=str(root), path=name, defaults=fields)
    except IntegrityError:
        raise VerifyError(f"version {version} of {shot} is held by another file; pass --version") from None
    if not verify:
        logger.warning("render %s queued by hand for %s v%03d without verification", path, shot, version)
    return render


def _version_by_hand(name: str, shot: Shot, version: int | None, templates: list[str]) -> int:
    """The version asked for, else the name's, else the shot's next one (VerifyError when out of range)."""
    try:
        parsed = parse_name(name, templates)
        if version is not None:
            version = bounded("version", str(version), VERSION_RANGE)
    except NameRangeError as exc:
        raise VerifyError(str(exc)) from None
    return version or (parsed.version if parsed else None) or _next_version(shot)


def _media_by_hand(path: Path, shot: Shot, tolerance_frames: int | None) -> dict:
    """The watcher's media checks on a file given by hand: its facts, or VerifyError/MediaError with the
    watcher's own message."""
    tolerance = settings.POSTFLOW_DURATION_TOLERANCE_FRAMES if tolerance_frames is None else tolerance_frames
    facts = probe(path)
    _check_media(facts, shot, tolerance)
    return {**facts.as_dict(), "frames_vs_shot": _difference(facts, shot)}


def _check_name_by_hand(name: str, shot: Shot, templates: list[str]) -> None:
    """Where the name parses, it must resolve (the watcher's reason if not) and to the shot given."""
    try:
        parsed = parse_name(name, templates_for(templates))
    except NameRangeError as exc:
        raise VerifyError(str(exc)) from None
    if parsed is None:
        return  # no template matches: the shot is the one given (--shot)
    resolution = resolve_name(name, templates)
    if resolution.shot is None:
        raise VerifyError(_with_suggestions(resolution.problem, resolution.suggestions))
    if resolution.shot.pk != shot.pk:
        raise VerifyError(f"the name {name!r} points to {resolution.shot}, not {shot}")


def _next_version(shot: Shot) -> int:
    return (Render.objects.filter(shot=shot).aggregate(top=Max("version"))["top"] or 0) + 1


def _publish_render(render_id: int) -> None:
    """The render's current state, as "render.state" (read now, inside the caller's transaction)."""
    render = Render.objects.select_related("shot").filter(pk=render_id).first()
    if render is None:
        return
    realtime.publish(
        "render.state",
        {
            "render_id": render.pk,
            "path": render.path,
            "state": render.state,
            "shot_id": render.shot_id,
            "shot": str(render.shot) if render.shot else "",
            "version": render.version,
            "reason": render.reason,
        },
    )


def render_release(*, render_id: int) -> bool:
    """Quarantined -> stable: verify it again on the next scan (after the shot list or the
    naming was fixed). Returns False if it was not quarantined."""
    released = Render.objects.filter(pk=render_id, state=Render.State.QUARANTINED).update(
        state=Render.State.STABLE, reason=""
    )
    if released:
        _publish_render(render_id)
    return bool(released)


def render_dismiss(*, render_id: int, actor: str) -> bool:
    """Set a quarantined render aside for good (until the file changes)."""
    dismissed = Render.objects.filter(pk=render_id, state=Render.State.QUARANTINED).update(
        state=Render.State.DISMISSED, reason=f"dismissed by {actor}"
    )
    if dismissed:
        _publish_render(render_id)
    return bool(dismissed)


# --- review proxies (ingest.proxies builds them) ------------------------------------------------


def proxy_request(*, render_id: int, checksum: str, now: datetime) -> None:
    """A verified render for review that Frame.io gets as a proxy: its ReviewProxy asks for one built from
    this content (new, or started over for new content), the render says it waits for it, and the proxy
    job is enqueued on commit. A worker still encoding older content loses its lease (it stops)."""
    ReviewProxy.objects.update_or_create(
        render_id=render_id,
        defaults={
            "state": ReviewProxy.State.PENDING,
            "source_checksum": checksum,
            "checksum": "",
            "frames_done": 0,
            "attempts": 0,
            "last_error": "",
            "lease_owner": "",
            "lease_until": None,
            "requested_at": now,
            "ready_at": None,
        },
    )
    Render.objects.filter(pk=render_id).update(reason=PROXY_WAITING)
    transaction.on_commit(partial(jobs.enqueue_proxy_build, render_id))
    _publish_proxy(render_id)


def proxy_claim(*, render_id: int, owner: str, now: datetime) -> ReviewProxy | None:
    """pending (or encoding under an expired lease: its worker died) -> encoding, leased to `owner`, while
    the render is still the verified content the proxy is for. None when another worker holds it, it is
    built or failed, or the render moved on: a job delivered twice encodes once."""
    free = Q(state=ReviewProxy.State.PENDING) | Q(state=ReviewProxy.State.ENCODING, lease_until__lt=now)
    claimed = (
        _proxy_for_current_render(render_id)
        .filter(free)
        .update(
            state=ReviewProxy.State.ENCODING,
            lease_owner=owner,
            lease_until=now + PROXY_LEASE,
            attempts=F("attempts") + 1,
            frames_done=0,
            updated_at=now,
        )
    )
    if not claimed:
        return None
    _publish_proxy(render_id)
    return ReviewProxy.objects.select_related("render__shot__scene__project").get(render_id=render_id)


def _proxy_for_current_render(render_id: int):
    """The render's proxy row, if the render is still verified with the content the proxy is for."""
    return ReviewProxy.objects.filter(
        render_id=render_id, render__state=Render.State.VERIFIED, render__checksum=F("source_checksum")
    )


def proxy_progress(*, render_id: int, owner: str, frames_done: int, now: datetime) -> bool:
    """Frames encoded so far, which also renews the lease. False when this worker lost the proxy (taken
    over, or the render changed or was verified again): it stops."""
    return bool(
        _proxy_for_current_render(render_id)
        .filter(state=ReviewProxy.State.ENCODING, lease_owner=owner)
        .update(frames_done=frames_done, lease_until=now + PROXY_LEASE, updated_at=now)
    )


@dataclass(frozen=True)
class ProxyWritten:
    """The proxy file in place under its final name, as `ingest.proxies` wrote and hashed it."""

    path: Path
    size: int
    mtime_ns: int
    inode: int
    checksum: str
    width: int
    height: int
    frames: int
    fps: float
    seconds: float


@transaction.atomic
def proxy_mark_ready(*, render_id: int, owner: str, written: ProxyWritten, now: datetime) -> bool:
    """encoding -> ready with the file's facts, and the render verified -> queued (`render_queued`: the
    upload pipeline enqueues its job on commit), in one transaction. False when this worker lost the proxy
    or the render moved on: nothing is queued (the file under the final name is the next build's to replace)."""
    moved = (
        _proxy_for_current_render(render_id)
        .filter(state=ReviewProxy.State.ENCODING, lease_owner=owner)
        .update(
            state=ReviewProxy.State.READY,
            path=str(written.path),
            size=written.size,
            mtime_ns=written.mtime_ns,
            inode=written.inode,
            checksum=written.checksum,
            width=written.width,
            height=written.height,
            frames=written.frames,
            frames_done=written.frames,
            fps=written.fps,
            encode_seconds=written.seconds,
            last_error="",
            lease_owner="",
            lease_until=None,
            ready_at=now,
            updated_at=now,
        )
    )
    if not moved:
        return False
    Render.objects.filter(pk=render_id, state=Render.State.VERIFIED).update(
        state=Render.State.QUEUED, queued_at=timezone.now(), reason=""
    )
    ingest_signals.render_queued.send(sender=Render, render_id=render_id)
    _publish_proxy(render_id)
    _publish_render(render_id)
    return True


def proxy_attempt_failed(*, render_id: int, owner: str, reason: str, permanent: bool, now: datetime) -> None:
    """An encode that failed: back to pending for the reconciler to try again, or failed for good (media
    that cannot be read, or PROXY_MAX_ATTEMPTS tries), its reason on the render for a producer. Only while
    `owner` holds the lease (a worker that lost it has nothing to say)."""
    mine = ReviewProxy.objects.filter(render_id=render_id, state=ReviewProxy.State.ENCODING, lease_owner=owner)
    attempts = mine.values_list("attempts", flat=True).first()
    if attempts is None:
        return
    final = permanent or attempts >= PROXY_MAX_ATTEMPTS
    state = ReviewProxy.State.FAILED if final else ReviewProxy.State.PENDING
    with transaction.atomic():
        if not mine.update(state=state, last_error=reason, lease_owner="", lease_until=None, updated_at=now):
            return
        if final:
            Render.objects.filter(pk=render_id, state=Render.State.VERIFIED).update(reason=f"{PROXY_FAILED}{reason}")
            _publish_render(render_id)
        _publish_proxy(render_id)
    logger.log(logging.ERROR if final else logging.WARNING, "review proxy of render %s: %s", render_id, reason)


def proxy_release(*, render_id: int, owner: str) -> None:
    """A stopping worker gives the proxy back: pending, the try not counted (a deploy is no try)."""
    released = ReviewProxy.objects.filter(
        render_id=render_id, state=ReviewProxy.State.ENCODING, lease_owner=owner
    ).update(
        state=ReviewProxy.State.PENDING, lease_owner="", lease_until=None, attempts=F("attempts") - 1, frames_done=0
    )
    if released:
        _publish_proxy(render_id)


def proxy_retry(*, render_id: int) -> bool:
    """A producer's retry of a failed proxy: pending again, its tries counted from 0, the job on commit."""
    with transaction.atomic():
        retried = (
            _proxy_for_current_render(render_id)
            .filter(state=ReviewProxy.State.FAILED)
            # updated_at by hand (.update() skips auto_now): the reconciler's grace counts from the retry
            .update(state=ReviewProxy.State.PENDING, attempts=0, last_error="", updated_at=timezone.now())
        )
        if retried:
            Render.objects.filter(pk=render_id).update(reason=PROXY_WAITING)
            transaction.on_commit(partial(jobs.enqueue_proxy_build, render_id))
            _publish_proxy(render_id)
    return bool(retried)


def _publish_proxy(render_id: int) -> None:
    """The proxy's state, as "proxy.state" (read now, inside the caller's transaction)."""
    proxy = ReviewProxy.objects.filter(render_id=render_id).values("state", "frames_done", "frames", "last_error")
    row = proxy.first()
    if row is not None:
        realtime.publish("proxy.state", {"render_id": render_id, **row})


# --- source clips (the sources check, ingest.sources) ------------------------------------


def source_clip_record(
    *, source_file_id: int, root: Path, path: str, stat: FileStat, facts: SourceFacts, start_frame: int, now: datetime
) -> SourceClip:
    """What a probe of the source file's clip read, as the reference later checks compare with.

    Recording a clip clears its problem: it is the reference now (a first check, a clip no shot
    rested on yet, or one accepted again with `verify_sources --accept-changed`).
    """
    clip, _ = SourceClip.objects.update_or_create(
        source_file_id=source_file_id,
        defaults={
            "root": str(root),
            "path": path,
            "size": stat.size,
            "mtime_ns": stat.mtime_ns,
            "fps": facts.fps,
            "frames": facts.frames,
            "start_timecode": facts.timecode,
            "start_frame": start_frame,
            "verified_at": now,
            "problem": SourceClip.Problem.NONE,
            "problem_detail": "",
            "problem_since": None,
        },
    )
    return clip


def source_clip_moved(*, clip_id: int, path: str) -> None:
    """The same file (size and mtime) found under another folder of the rushes: it only moved."""
    SourceClip.objects.filter(pk=clip_id).update(path=path)


def source_clip_flag(*, clip_id: int, problem: str, detail: str, now: datetime) -> bool:
    """The clip shots rest on is gone or changed. The first finding of each problem is news: it
    sends `ingest.signals.source_changed` (the alerts app opens its alert); the same finding
    again only refreshes the detail. Returns True if it was news."""
    news = (
        SourceClip.objects.filter(pk=clip_id)
        .exclude(problem=problem)
        .update(problem=problem, problem_detail=detail, problem_since=now)
    )
    if not news:
        SourceClip.objects.filter(pk=clip_id).update(problem_detail=detail)
        return False
    clip = SourceClip.objects.select_related("source_file").get(pk=clip_id)
    logger.warning("source %s %s: %s", clip.source_file.name, problem, detail)
    ingest_signals.source_changed.send(
        sender=SourceClip,
        clip_id=clip.pk,
        source_file=clip.source_file.name,
        path=clip.path,
        problem=problem,
        detail=detail,
    )
    return True


def source_clip_clear(*, clip_id: int) -> bool:
    """The verified file is back as it was (same size and mtime): its problem ends."""
    cleared = (
        SourceClip.objects.filter(pk=clip_id)
        .exclude(problem=SourceClip.Problem.NONE)
        .update(problem=SourceClip.Problem.NONE, problem_detail="", problem_since=None)
    )
    return bool(cleared)
