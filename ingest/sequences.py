"""Image sequences: numbered frames (`name.1001.exr`, `name_0001.png`) folded into one render.

The scanner reports files; the ledger holds one row per sequence. `SequenceIndex` sits between the two:
it keeps the frames of the scanner's view by directory and by sequence, updated from each scan's
differences only, and rewrites a `ScanResult` so that frames become one entry per sequence, keyed by the
sequence's pattern path (`renders/ae/UNDLM_00042_v003.####.exr`) with a `SequenceStat` as its stat. The
key holds no frame range, so it stays the same while frames arrive; the range, the padding and the gaps
travel in the stat. A scan that touched no frame costs nothing here, and one that touched a few frames
re-aggregates only their sequences (not their directories, not the tree).

Choices, and why:

- A frame is `<base><sep><digits>.<ext>` where `sep` is `.` or `_`: `UNDLM_00042_v003.png` (a still
  whose name ends in its version) is not frame 3 of `UNDLM_00042_v`.
- The padding is the number of digits, and frames of one sequence share it: `####` in the key, one `#`
  per digit (Nuke's and Resolve's reading; fileseq's `#` means four digits, so its forms are read with
  `pattern_key` but never written). An unpadded sequence crossing 9 -> 10 splits in two; renderers pad.
- A numbered still alone (one frame) is ignored, as any untracked file: a reference still or a poster
  frame is far more common than a one-frame render, and a sequence being written is picked up when its
  second frame lands (its directory's mtime moves then).

Pure module, no Django, like the scanner: the watcher drives it, and so do its tests and the bench.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import fileseq

from ingest.scanner import FileStat, ScanResult

DEFAULT_EXTENSIONS = ("exr", "dpx", "png", "tif", "tiff", "jpg", "jpeg")
# Greedy base: the frame number is the last run of digits, right before the extension.
_FRAME = re.compile(r"(?P<base>.+[._])(?P<digits>\d+)\.(?P<ext>[A-Za-z0-9]+)\Z")
# Past 9 digits a "frame number" is a timestamp or an id, not a frame: not a sequence.
_MAX_DIGITS = 9
_HASH_RUN = re.compile(r"#+")


@dataclass(frozen=True, slots=True)
class SequenceStat(FileStat):
    """A sequence's aggregate, compared by the ledger like a file's stat: total bytes (`size`), the newest
    frame's mtime (`mtime_ns`), the first frame's inode (`inode`: a first frame rewritten is a change),
    and the frame set (first, last, count and the gaps), which the three numbers above may not catch."""

    first: int = 0
    last: int = 0
    padding: int = 0
    count: int = 0
    missing: str = ""  # the gaps as a compact range, "1010-1012, 1050"; empty when complete


@dataclass(frozen=True, slots=True)
class FrameName:
    base: str  # with its separator: "UNDLM_00042_v003."
    frame: int
    padding: int
    ext: str

    @property
    def key_name(self) -> str:
        return f"{self.base}{'#' * self.padding}.{self.ext}"


def parse_frame(name: str, extensions: Iterable[str]) -> FrameName | None:
    """The frame a file name holds, or None if it is not a frame of an image sequence."""
    match = _FRAME.match(name)
    if match is None or match["ext"].lower() not in extensions or len(match["digits"]) > _MAX_DIGITS:
        return None
    return FrameName(match["base"], int(match["digits"]), len(match["digits"]), match["ext"])


def pattern_key(pattern: str) -> str:
    """The ledger key of a sequence written in any usual padding form: `name.%04d.exr`, `name.####.exr`
    (one `#` per digit), `name.@@@@.exr`, `name.$F4.exr`, or fileseq's `name.1001-1143#.exr` (`#` = 4).

    fileseq parses the pattern (its padding rules are the industry's); the key always writes the padding
    as one `#` per digit, whatever form it came in.
    """
    directory, _, name = pattern.rpartition("/")
    if _HASH_RUN.search(name) and not re.search(r"\d#", name):
        # A bare run of hashes is read one per digit here, where fileseq would read "#" as four digits.
        width = len(_HASH_RUN.search(name).group())
        parsed = fileseq.FileSequence(_HASH_RUN.sub(f"%0{width}d", name, count=1))
    else:
        parsed = fileseq.FileSequence(name)
    width = fileseq.FileSequence.getPaddingNum(parsed.padding()) if parsed.padding() else 0
    key_name = f"{parsed.basename()}{'#' * width}{parsed.extension()}"
    return f"{directory}/{key_name}" if directory else key_name


def key_parts(key: str) -> tuple[str, str, int, str]:
    """(directory, base with its separator, padding, extension without the dot) of a sequence key."""
    directory, _, name = key.rpartition("/")
    stem, _, ext = name.rpartition(".")
    base = stem.rstrip("#")
    return directory, base, len(stem) - len(base), ext


def display_name(key: str, first: int, last: int, padding: int) -> str:
    """`renders/ae/UNDLM_00042_v003.[1001-1143].exr`: the key with its range in place of the hashes."""
    directory, base, _, ext = key_parts(key)
    shown = f"{base}[{first:0{padding}d}-{last:0{padding}d}].{ext}"
    return f"{directory}/{shown}" if directory else shown


# Numbered files spread far wider than their count are not one sequence: photos named by the time they were
# taken (PXL_20240101_093015123.jpg) would make a 90-million-frame "sequence" of two files.
MAX_SPAN_PER_FRAME = 100
MAX_SPAN_ALWAYS_OK = 100_000
MAX_GAP_RUNS_SHOWN = 20


def plausible_span(first: int, last: int, count: int) -> bool:
    span = last - first + 1
    return span <= MAX_SPAN_ALWAYS_OK or span <= MAX_SPAN_PER_FRAME * count


def missing_ranges(frames: Iterable[int], first: int, last: int, count: int) -> str:
    """The frames absent between first and last, as compact ranges ("1010-1012, 1040"), the first
    MAX_GAP_RUNS_SHOWN of them. In the count of frames present, never in the span between them."""
    if count == last - first + 1:
        return ""
    runs, previous = [], None
    for frame in sorted(frames):
        if previous is not None and frame > previous + 1:
            runs.append((previous + 1, frame - 1))
        previous = frame
    shown = [f"{low}-{high}" if high > low else str(low) for low, high in runs[:MAX_GAP_RUNS_SHOWN]]
    more = len(runs) - len(shown)
    return ", ".join(shown) + (f", and {more} more gaps" if more else "")


@dataclass
class _Sequence:
    padding: int
    frames: dict[int, tuple[str, FileStat]] = field(default_factory=dict)  # frame -> (name, stat)

    def stat(self) -> SequenceStat | None:
        """The aggregate, or None for a lone frame (not a sequence; see the module's docstring)."""
        if len(self.frames) < 2:
            return None
        numbers = self.frames.keys()
        first, last = min(numbers), max(numbers)
        if not plausible_span(first, last, len(self.frames)):
            return None  # far-apart numbers (timestamps in names): not a sequence, as a lone frame is not
        stats = [stat for _, stat in self.frames.values()]
        return SequenceStat(
            size=sum(stat.size for stat in stats),
            mtime_ns=max(stat.mtime_ns for stat in stats),
            inode=self.frames[first][1].inode,
            first=first,
            last=last,
            padding=self.padding,
            count=len(self.frames),
            missing=missing_ranges(numbers, first, last, len(self.frames)),
        )


class SequenceIndex:
    """The frames of a scanner's view, by sequence key; see the module's docstring.

    Not thread-safe, like the scanner it follows: one per watcher.
    """

    def __init__(self, extensions: Iterable[str] = DEFAULT_EXTENSIONS) -> None:
        self.extensions = frozenset(ext.lower() for ext in extensions)
        self._sequences: dict[str, _Sequence] = {}
        self._frame_keys: dict[str, tuple[str, int]] = {}  # frame path -> (key, frame number)
        self._stats: dict[str, SequenceStat] = {}  # key -> aggregate, for the sequences of two frames or more

    def is_frame(self, name: str) -> bool:
        """Whether the scanner should track this file name: any numbered image (lone ones are told apart later)."""
        return parse_frame(name, self.extensions) is not None

    def fold(self, result: ScanResult) -> ScanResult:
        """`result` with its frames replaced by one entry per sequence whose aggregate moved.

        A new sequence is `appeared`, a moved one `changed`, one left with fewer than two frames `gone`.
        Every other entry (movies, temp files, sidecars, rejections, errors) passes through as it was.
        """
        touched: set[str] = set()
        for path, stat in {**result.appeared, **result.changed}.items():
            touched.update(self._add(path, stat))
        for path in result.gone:
            touched.update(self._remove(path))
        folded = ScanResult(
            appeared={p: s for p, s in result.appeared.items() if not self._is_frame(p)},
            changed={p: s for p, s in result.changed.items() if not self._is_frame(p)},
            gone={p for p in result.gone if not self._is_frame(p)},
            rejected=result.rejected,
            full=result.full,
            dirs_listed=result.dirs_listed,
            dirs_statted=result.dirs_statted,
            files_statted=result.files_statted,
            errors=result.errors,
        )
        for key in sorted(touched):
            self._report(key, folded)
        return folded

    def rebuild(self, known: dict[str, FileStat]) -> None:
        """Start again from a scanner's whole view (after `TreeScanner.undo_last_scan`)."""
        self._sequences.clear()
        self._frame_keys.clear()
        self._stats.clear()
        keys: set[str] = set()
        for path, stat in known.items():
            keys.update(self._add(path, stat))
        for key in keys:
            stat = self._sequences[key].stat()
            if stat is not None:
                self._stats[key] = stat

    def present(self, known: dict[str, FileStat]) -> dict[str, FileStat]:
        """A scanner's whole view with frames replaced by their sequences: what is on disk, as the ledger keys it."""
        files = {path: stat for path, stat in known.items() if path not in self._frame_keys}
        return {**files, **self._stats}

    def frame_paths(self, key: str) -> list[str]:
        """The paths of a sequence's frames in frame order (empty for an unknown key)."""
        sequence = self._sequences.get(key)
        if sequence is None:
            return []
        directory = key.rpartition("/")[0]
        return [_join(directory, sequence.frames[n][0]) for n in sorted(sequence.frames)]

    def watch(self, keys: Iterable[str], window_ns: int) -> list[str]:
        """The frames of these sequences to re-stat on an incremental scan: those written within `window_ns`
        of the sequence's newest frame. A frame still being written moves its own mtime, not its directory's,
        and is one of the newest; a frame quiet for a settle window is done. Watching every frame of a
        100,000-frame sequence while it settles would stat the whole sequence on every scan."""
        paths: list[str] = []
        for key in keys:
            sequence, stat = self._sequences.get(key), self._stats.get(key)
            if sequence is None or stat is None:
                continue
            directory = key.rpartition("/")[0]
            recent = stat.mtime_ns - window_ns
            paths.extend(_join(directory, name) for name, st in sequence.frames.values() if st.mtime_ns >= recent)
        return paths

    # -- bookkeeping -------------------------------------------------------------------------------------

    def _is_frame(self, path: str) -> bool:
        return parse_frame(path.rpartition("/")[2], self.extensions) is not None

    def _add(self, path: str, stat: FileStat) -> list[str]:
        """Record a frame's stat; the keys whose aggregate may have moved."""
        directory, _, name = path.rpartition("/")
        frame = parse_frame(name, self.extensions)
        if frame is None:
            return []
        key = _join(directory, frame.key_name)
        self._sequences.setdefault(key, _Sequence(frame.padding)).frames[frame.frame] = (name, stat)
        self._frame_keys[path] = (key, frame.frame)
        return [key]

    def _remove(self, path: str) -> list[str]:
        entry = self._frame_keys.pop(path, None)
        if entry is None:
            return []
        key, number = entry
        sequence = self._sequences[key]
        sequence.frames.pop(number, None)
        if not sequence.frames:
            del self._sequences[key]
        return [key]

    def _report(self, key: str, folded: ScanResult) -> None:
        sequence = self._sequences.get(key)
        stat = sequence.stat() if sequence is not None else None
        before = self._stats.get(key)
        if stat is None:
            if before is not None:
                del self._stats[key]
                folded.gone.add(key)
            return
        self._stats[key] = stat
        if before is None:
            folded.appeared[key] = stat
        elif stat != before:
            folded.changed[key] = stat


def frames_on_disk(directory: Path, key: str, extensions: Iterable[str]) -> tuple[dict[int, Path], SequenceStat | None]:
    """A sequence's frames as the directory holds them now (regular files only, as the scanner tracks),
    by frame number, and their aggregate (None if fewer than two). For verification, which must read
    what is there, not what the last scan saw."""
    key_name = key.rpartition("/")[2]
    sequence = _Sequence(key_parts(key)[2])
    paths: dict[int, Path] = {}
    with os.scandir(directory) as listing:
        for entry in listing:
            frame = parse_frame(entry.name, extensions)
            if frame is None or frame.key_name != key_name or not entry.is_file(follow_symlinks=False):
                continue
            sequence.frames[frame.frame] = (entry.name, FileStat.of(entry.stat(follow_symlinks=False)))
            paths[frame.frame] = Path(entry.path)
    return dict(sorted(paths.items())), sequence.stat()


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name
