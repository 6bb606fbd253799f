"""The polling scan of one watch root, cheap when nothing changed.

LucidLink (a FUSE cloud filesystem) raises no inotify events for files written by other machines, so the
watcher polls. A naive poll lists every directory and stats every file, every time (watchdog's
DirectorySnapshot: 0.5 to 1 s of CPU per 100,000 files). `TreeScanner` stats directories and lists only
those whose mtime moved, because creating, deleting or renaming an entry always moves its parent's mtime;
in a listed directory it stats the tracked files, a few dozen in a render folder. (Every one of them, not
only those whose d_ino changed: a file deleted and written again under the same name often gets the same
inode number back, and FUSE filesystems may report no meaningful d_ino at all.)

What an incremental scan does not see, by design:

- a file changing in place (a growing render, a LucidLink 0-byte placeholder filling) moves its own mtime,
  not its directory's: the caller passes such settling files in `watch`, and they are re-stat'ed;
- a filesystem whose directory mtimes lie or lag: `scan(full=True)`, run periodically by the caller, lists
  every directory, stats every file and reports every difference.

Pure module, no Django: the `watch` command drives it, and so do its tests and bench/scan_tree.py.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from errno import ENOENT, ENOTCONN, ENOTDIR, ESTALE, errorcode
from operator import attrgetter
from pathlib import Path

logger = logging.getLogger(__name__)

# "Transport endpoint is not connected": the FUSE daemon behind the mount died. Seen on any path under the
# root, it means the whole mount is gone, so the scan stops instead of logging it once per directory.
_MOUNT_GONE_ERRNOS = frozenset({ENOTCONN})

# C0 and C1 controls, DEL, the bidirectional overrides and isolates (they make "evil\u202evom.exe" display as
# "evilexe.mov"), and the lone surrogates os.fsdecode makes of bytes that are not UTF-8.
_UNSAFE_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\udc80-\udcff]")
# What `printable` escapes: the unsafe characters and the backslash that starts an escape.
_ESCAPED_CHAR = re.compile("[\\\\\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\udc80-\udcff]")
_SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Most filesystems (ext4, APFS, NTFS in UTF-16 units) refuse longer names; a longer one could not be copied
# off the mount, nor shown whole.
NAME_MAX_BYTES = 255


@dataclass(frozen=True, slots=True)
class FileStat:
    """What the scanner compares to decide that a file changed."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)


@dataclass
class ScanResult:
    """The difference between the scanner's view before and after one scan.

    Keys are posix paths relative to the root, in sorted order, as os.fsdecode makes them: a byte that is not
    UTF-8 is a lone surrogate there, which no database, log or JSON takes (`printable` shows it). `rejected`
    holds the entries rejected by this scan that the previous view had not rejected for the same reason (so
    each is reported once, like `appeared`). `errors` holds the entries skipped because of an error (relpath
    -> "EACCES: ..."); the root itself is "".
    """

    appeared: dict[str, FileStat] = field(default_factory=dict)
    changed: dict[str, FileStat] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    rejected: dict[str, str] = field(default_factory=dict)
    full: bool = False
    dirs_listed: int = 0
    dirs_statted: int = 0
    files_statted: int = 0
    errors: dict[str, str] = field(default_factory=dict)


class RootUnavailable(Exception):
    """The watch root is missing, unreadable or not a directory (a vanished FUSE mount, most often).

    Raised by `TreeScanner.scan`, which then leaves its view untouched: the next good scan diffs against the
    last good one, so a mount that comes back does not look like every file was deleted and re-created.
    """

    def __init__(self, root: Path, errno: int, message: str) -> None:
        super().__init__(root, errno, message)
        self.root = root
        self.errno = errno
        self.message = message

    def __str__(self) -> str:
        return f"watch root {self.root} unavailable ({errorcode.get(self.errno, self.errno)}): {self.message}"


def unsafe_name_reason(name: str) -> str | None:
    """Why one path component must not be handled by the pipeline, or None if it is safe.

    Rejected: names of only dots ('.', '..', '...': the last one is '..' to a reader, and nothing on Windows),
    a leading '-' (a later subprocess would read it as an option), NUL, control and bidirectional-override
    characters, bytes that are not UTF-8 (they could not be stored or shown), a backslash (the Windows
    separator; and `printable` needs a name that holds none to tell a real path from an escaped one), and
    names longer than NAME_MAX_BYTES. The reason shows the name escaped when it holds what cannot be shown.
    """
    if name and not name.strip("."):
        return f"name is only dots ({name!r})"
    if name.startswith("-"):
        return "name starts with '-'"
    size = len(os.fsencode(name))
    if size > NAME_MAX_BYTES:
        return f"name is longer than {NAME_MAX_BYTES} bytes ({size})"
    if "\\" in name:
        return f"name contains a backslash (the Windows path separator): {printable(name)}"
    match = _UNSAFE_CHAR.search(name)
    if match is None:
        return None
    char = match.group()
    if char == "\x00":
        return f"name contains NUL: {printable(name)}"
    if "\udc80" <= char <= "\udcff":
        return f"name is not valid UTF-8: {printable(name)} (the bytes shown as \\xNN)"
    return f"name contains control character U+{ord(char):04X}: {printable(name)}"


def printable(text: str) -> str:
    r"""`text` with what a log, a terminal, a web page or a database cannot take shown as escapes.

    A byte that is not UTF-8 (a lone surrogate from os.fsdecode) becomes \xNN, a control or bidirectional
    character \n, \t, \r, \xNN (below U+0080) or \uNNNN, and a backslash \\. The result is printable, valid
    UTF-8, and one to one: two names never share a form. A name the scanner accepts holds none of these
    characters (`unsafe_name_reason`), so its printable form is itself, and a form with a backslash in it is
    never the path of a file the scanner accepts.
    """
    return _ESCAPED_CHAR.sub(_escape, text)


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the byte os.fsdecode could not decode
    # \u for U+0080 and above, so that a C1 control (U+0085) never looks like the undecodable byte 0x85.
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"


@dataclass(frozen=True, slots=True)
class _Dir:
    """A directory as last listed."""

    mtime_ns: int
    files: tuple[str, ...]  # the tracked files' names
    subdirs: tuple[str, ...]
    rejected: dict[str, str]  # relpath -> reason, for this directory's own entries
    relist: bool  # list it on the next scan even if its mtime has not moved


@dataclass
class _Pass:
    """One scan's work, applied to the scanner only once the whole scan succeeded."""

    full: bool
    root_real: str
    result: ScanResult = field(default_factory=ScanResult)
    dirs: dict[str, _Dir] = field(default_factory=dict)  # directory entries (re)written by this scan
    dropped_dirs: set[str] = field(default_factory=set)
    statted: set[str] = field(default_factory=set)  # files stat'ed by this scan

    @property
    def root_prefix(self) -> str:
        return self.root_real.rstrip("/") + "/"


def _child(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


class TreeScanner:
    """Polls one root and reports what appeared, changed and went away since the previous scan.

    `accept(filename)` chooses the files tracked at all (by extension, say); the others are ignored.
    Directories that are symlinks are never followed. A symlink resolving inside the root is ignored (its
    target is seen directly); one resolving outside it is rejected, if it points to a directory or its name
    is accepted. Names that `unsafe_name_reason` refuses are rejected, and so are paths (relative to the root)
    longer than `max_path` characters (what the caller can store); a rejected directory is not entered.

    A directory modified less than `racy_window` seconds before it was listed is listed again on the next
    scan even if its mtime has not moved: on a filesystem with coarse timestamps a second change within the
    same tick leaves the mtime as it was (git's "racy index" problem). This machine's clock decides, so a
    directory whose mtime is ahead of it (a remote writer's clock) is listed on every scan until it catches up.

    Not thread-safe: one scanner per root, driven by one thread.
    """

    def __init__(
        self,
        root: Path,
        *,
        accept: Callable[[str], bool] = lambda name: True,
        racy_window: float = 2.0,
        max_path: int | None = None,
    ) -> None:
        self.root = Path(root)
        self._root = os.path.abspath(root)
        self._accept = accept
        self._max_path = max_path
        self._racy_window_ns = int(racy_window * 1_000_000_000)
        self._dirs: dict[str, _Dir] = {}
        self._files: dict[str, FileStat] = {}
        self._root_dev: int | None = None  # None until a scan succeeded
        # What the last scan overwrote in the view (rel -> previous entry, None if it had none), for `undo_last_scan`.
        self._undo: tuple[dict[str, _Dir | None], dict[str, FileStat | None], int | None] | None = None

    def known(self) -> dict[str, FileStat]:
        """A copy of the current view: every tracked file under the root and its last stat."""
        return dict(self._files)

    def undo_last_scan(self) -> None:
        """Put the view back as it was before the last scan, so the next scan reports the same differences again.

        For a caller that could not act on a scan's result (its database write failed): without this, what that
        scan saw would never be reported again. Only the entries the scan changed are restored; a second call
        does nothing.
        """
        if self._undo is None:
            return
        dirs, files, root_dev = self._undo
        self._undo = None
        for rel, entry in dirs.items():
            if entry is None:
                self._dirs.pop(rel, None)
            else:
                self._dirs[rel] = entry
        for rel, stat_ in files.items():
            if stat_ is None:
                self._files.pop(rel, None)
            else:
                self._files[rel] = stat_
        self._root_dev = root_dev

    def scan(self, *, full: bool = False, watch: Iterable[str] = ()) -> ScanResult:
        """Scan the root and update the view; return the difference.

        `full` lists every directory and stats every file. The first scan is always full, and so is the
        first one after the root moved to another device (a remount: its inodes and mtimes are not ours).
        `watch` names files to re-stat even though their directory did not change (files still settling);
        names not in the view are ignored, so `watch` never reaches outside what the walk accepted.

        Raises RootUnavailable if the root is missing or unreadable, or changed under the scan; the view is
        then left as it was. An error on any other directory or file skips that entry (its last known
        state is kept), is logged and is reported in `errors`.
        """
        root_st = self._stat_root()
        full = full or root_st.st_dev != self._root_dev
        run = _Pass(full=full, root_real=os.path.realpath(self._root))
        run.result.full = full
        run.result.dirs_statted = 1
        self._walk(run, root_st)
        if not full:
            self._restat_watched(run, watch)
        end_st = self._stat_root()
        if (end_st.st_dev, end_st.st_ino) != (root_st.st_dev, root_st.st_ino):
            # Every ENOENT below the root in this scan may have been the old mount going away.
            raise RootUnavailable(self.root, ESTALE, "the root was replaced during the scan")
        self._commit(run)
        self._root_dev = root_st.st_dev
        return run.result

    # -- the walk ----------------------------------------------------------------------------------------

    def _stat_root(self) -> os.stat_result:
        """The root's stat, following a symlink: the configured root may itself be a link to the mount."""
        try:
            st = os.stat(self._root)
        except OSError as exc:
            raise RootUnavailable(self.root, exc.errno or 0, exc.strerror or str(exc)) from exc
        if not stat.S_ISDIR(st.st_mode):
            raise RootUnavailable(self.root, ENOTDIR, "not a directory")
        return st

    def _walk(self, run: _Pass, root_st: os.stat_result) -> None:
        """Depth first, in name order, from the root; only directories are stat'ed on the way."""
        entry = self._visit(run, "", root_st)
        stack = [_child("", name) for name in reversed(entry.subdirs)] if entry else []
        while stack:
            rel = stack.pop()
            st = self._stat_dir(run, rel)
            entry = self._visit(run, rel, st) if st else None
            if entry:
                stack.extend(_child(rel, name) for name in reversed(entry.subdirs))

    def _stat_dir(self, run: _Pass, rel: str) -> os.stat_result | None:
        """A subdirectory's lstat, or None if it cannot be scanned now."""
        run.result.dirs_statted += 1
        try:
            st = os.stat(self._abs(rel), follow_symlinks=False)
        except OSError as exc:
            self._skip(run, rel, exc)
            if exc.errno == ENOENT:
                self._drop_dir(run, rel)
            return None
        if not stat.S_ISDIR(st.st_mode):
            # Replaced by a file or a symlink while its parent's mtime did not move: a lying filesystem.
            self._drop_dir(run, rel)
            return None
        return st

    def _visit(self, run: _Pass, rel: str, st: os.stat_result) -> _Dir | None:
        """The directory's entry: the cached one if its mtime has not moved, else a fresh listing.

        The mtime alone decides, not the inode number too: FUSE filesystems may hand out a new st_ino for the
        same directory after the kernel evicts it, which would turn every scan into a full one.
        """
        cached = self._dirs.get(rel)
        if not run.full and cached is not None and not cached.relist and cached.mtime_ns == st.st_mtime_ns:
            return cached
        return self._list_dir(run, rel, st, cached)

    def _list_dir(self, run: _Pass, rel: str, st: os.stat_result, cached: _Dir | None) -> _Dir | None:
        """List the directory, stat what needs it, record the differences; None if it cannot be listed.

        A directory that cannot be listed keeps its cached entry, so its files do not look gone on a
        transient EIO and the next scan tries again (its cached mtime no longer matches, or it has none).
        """
        run.result.dirs_listed += 1
        listed_at_ns = time.time_ns()
        try:
            with os.scandir(self._abs(rel)) as listing:
                entries = sorted(listing, key=attrgetter("name"))
        except OSError as exc:
            self._skip(run, rel, exc)
            if exc.errno == ENOENT:
                self._drop_dir(run, rel)
            return None
        files, subdirs, rejected = self._classify(run, rel, entries)
        old = cached or _Dir(0, (), (), {}, relist=False)
        kept, retry = self._diff_files(run, rel, files, old.files)
        for name in set(old.subdirs).difference(subdirs):
            self._drop_subtree(run, _child(rel, name))
        run.result.rejected.update({path: why for path, why in rejected.items() if old.rejected.get(path) != why})
        racy = st.st_mtime_ns >= listed_at_ns - self._racy_window_ns
        entry = _Dir(st.st_mtime_ns, kept, tuple(subdirs), rejected, relist=racy or retry)
        run.dirs[rel] = entry
        return entry

    def _classify(
        self, run: _Pass, rel: str, entries: list[os.DirEntry[str]]
    ) -> tuple[list[str], list[str], dict[str, str]]:
        """Split a listing into tracked files, subdirectories to enter, and rejections (relpath -> reason)."""
        files: list[str] = []
        subdirs: list[str] = []
        rejected: dict[str, str] = {}
        for entry in entries:
            path = _child(rel, entry.name)
            try:
                if entry.is_symlink():
                    reason = self._symlink_rejection(run, entry)
                elif entry.is_dir(follow_symlinks=False):
                    reason = self._rejection(path, entry.name)
                    if reason is None:
                        subdirs.append(entry.name)
                elif entry.is_file(follow_symlinks=False) and self._accept(entry.name):
                    reason = self._rejection(path, entry.name)
                    if reason is None:
                        files.append(entry.name)
                else:
                    reason = None  # an ignored file, a fifo, a socket, a device: nobody's render
            except OSError as exc:
                self._skip(run, path, exc)
                continue
            if reason is not None:
                rejected[path] = reason
        return files, subdirs, rejected

    def _rejection(self, path: str, name: str) -> str | None:
        """Why a directory or a tracked file is rejected, or None."""
        reason = unsafe_name_reason(name)
        if reason is None and self._max_path is not None and len(path) > self._max_path:
            reason = f"path is longer than {self._max_path:,} characters ({len(path):,})"
        return reason

    def _symlink_rejection(self, run: _Pass, entry: os.DirEntry[str]) -> str | None:
        """Why a symlink is rejected, or None if it is ignored (its target is inside the root, or untracked)."""
        target = os.path.realpath(entry.path)
        if not os.path.isdir(target) and not self._accept(entry.name):
            return None
        if target == run.root_real or target.startswith(run.root_prefix):
            return None
        return f"symlink to {printable(target)}, outside the root"  # a link's target may hold any byte

    def _diff_files(
        self, run: _Pass, rel: str, files: list[str], old_files: tuple[str, ...]
    ) -> tuple[tuple[str, ...], bool]:
        """Stat the listed files and record appeared/changed/gone.

        Returns the directory's files to cache and whether a stat failed, in which case the directory is
        listed again on the next scan to retry. A known file whose stat fails for another reason than having
        vanished keeps its last known state.
        """
        kept: list[str] = []
        retry = False
        for name in files:
            path = _child(rel, name)
            previous = self._files.get(path)
            try:
                current = self._stat_file(run, path)
            except OSError as exc:
                self._skip(run, path, exc)
                retry = True
                if previous is not None and exc.errno != ENOENT:
                    kept.append(name)
                continue
            kept.append(name)
            self._record(run, path, previous, current)
        still_there = set(kept)
        vanished = (_child(rel, name) for name in old_files if name not in still_there)
        run.result.gone.update(path for path in vanished if path in self._files)
        return tuple(kept), retry

    def _stat_file(self, run: _Pass, rel: str) -> FileStat:
        run.result.files_statted += 1
        st = os.stat(self._abs(rel), follow_symlinks=False)
        run.statted.add(rel)
        if not stat.S_ISREG(st.st_mode):
            # Swapped for a symlink or a directory since it was listed; its parent's next listing sorts it out.
            raise FileNotFoundError(ENOENT, "no longer a regular file", self._abs(rel))
        return FileStat.of(st)

    def _restat_watched(self, run: _Pass, watch: Iterable[str]) -> None:
        """Re-stat the watched files this scan has not stat'ed already."""
        for rel in sorted(set(watch)):
            previous = self._files.get(rel)
            if previous is None or rel in run.statted or rel in run.result.gone:
                continue
            try:
                current = self._stat_file(run, rel)
            except OSError as exc:
                self._skip(run, rel, exc)
                if exc.errno == ENOENT:
                    # Gone while its directory's mtime stayed put: record it, and distrust that directory.
                    run.result.gone.add(rel)
                    self._forget_file(run, rel)
                continue
            self._record(run, rel, previous, current)

    # -- bookkeeping -------------------------------------------------------------------------------------

    def _record(self, run: _Pass, rel: str, previous: FileStat | None, current: FileStat) -> None:
        if previous is None:
            run.result.appeared[rel] = current
        elif current != previous:
            run.result.changed[rel] = current

    def _skip(self, run: _Pass, rel: str, exc: OSError) -> None:
        """Log and report an entry that cannot be scanned now; stop the scan if the root itself is lost."""
        # `rel` may be a name not yet classified (an entry whose type could not be read): shown escaped.
        if exc.errno in _MOUNT_GONE_ERRNOS or rel == "":
            where = printable(rel) or "."
            raise RootUnavailable(self.root, exc.errno or 0, f"{exc.strerror or exc} at {where}") from exc
        run.result.errors[rel] = f"{errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror or exc}"
        # Files vanishing between a listing and their stat are routine (temporary files, renames into place).
        level = logging.INFO if exc.errno == ENOENT else logging.WARNING
        logger.log(level, "scan of %s: skipped %s: %s", self.root, printable(rel), exc)

    def _drop_dir(self, run: _Pass, rel: str) -> None:
        """A directory found missing or no longer a directory: forget its subtree, relist its parent."""
        self._drop_subtree(run, rel)
        parent = rel.rpartition("/")[0]
        entry = run.dirs.get(parent) or self._dirs.get(parent)
        if entry is not None:
            run.dirs[parent] = replace(entry, relist=True)

    def _drop_subtree(self, run: _Pass, rel: str) -> None:
        """Every cached file under `rel` is gone, and every cached directory is forgotten."""
        stack = [rel]
        while stack:
            path = stack.pop()
            entry = self._dirs.get(path)
            if entry is None:
                continue
            run.dropped_dirs.add(path)
            run.result.gone.update(name for name in (_child(path, f) for f in entry.files) if name in self._files)
            stack.extend(_child(path, name) for name in entry.subdirs)

    def _forget_file(self, run: _Pass, rel: str) -> None:
        """Remove a vanished file from its directory's cached listing and have that directory relisted."""
        parent, _, name = rel.rpartition("/")
        entry = run.dirs.get(parent) or self._dirs[parent]
        files = tuple(other for other in entry.files if other != name)
        run.dirs[parent] = replace(entry, files=files, relist=True)

    def _commit(self, run: _Pass) -> None:
        result = run.result
        touched_files = result.gone | result.appeared.keys() | result.changed.keys()
        self._undo = (
            {rel: self._dirs.get(rel) for rel in run.dropped_dirs | run.dirs.keys()},
            {rel: self._files.get(rel) for rel in touched_files},
            self._root_dev,
        )
        for rel in run.dropped_dirs:
            self._dirs.pop(rel, None)
        self._dirs.update(run.dirs)
        for rel in run.result.gone:
            self._files.pop(rel, None)
        self._files.update(run.result.appeared)
        self._files.update(run.result.changed)
        result.appeared = dict(sorted(result.appeared.items()))
        result.changed = dict(sorted(result.changed.items()))
        result.rejected = dict(sorted(result.rejected.items()))

    def _abs(self, rel: str) -> str:
        return f"{self._root}/{rel}" if rel else self._root
