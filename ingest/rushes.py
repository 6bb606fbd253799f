"""Where the rushes are: one walk of the rushes root, as a map from file name to the paths holding it.

A shot list names its source file ("A_0002C108X250401_165644G6_UNDLM.mov"), not where it is; rushes
are sorted by day, camera and card, at any depth. Names are matched without case and in Unicode's
composed form (NFC): a Mac writes "é" decomposed, a spreadsheet composed, and both are the same
name to a person. Names that are not UTF-8 cannot be in a shot list, so they are skipped, never
guessed at. Symlinks are not followed (a loop, or a tree outside the rushes). Pure module, no Django.
"""

from __future__ import annotations

import logging
import os
import stat
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from errno import errorcode
from pathlib import Path

from ingest.scanner import FileStat

logger = logging.getLogger(__name__)


class RushesUnavailable(Exception):
    """The rushes root is missing, unreadable or not a directory."""


def name_key(name: str) -> str:
    """How two file names are compared: composed (NFC), then case-folded."""
    return unicodedata.normalize("NFC", name).casefold()


def _decodable(name: str) -> bool:
    # os.fsdecode turns bytes that are not UTF-8 into lone surrogates (U+DC80..U+DCFF).
    return not any("\udc80" <= char <= "\udcff" for char in name)


@dataclass
class RushesIndex:
    """Every regular file under the root, by name key. Paths are posix, relative to the root."""

    root: Path
    by_name: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, FileStat] = field(default_factory=dict)  # known stats (a scanner's view), else lstat once
    unreadable: dict[str, str] = field(default_factory=dict)  # folders that could not be listed -> why
    skipped: int = 0  # names that are not UTF-8

    @classmethod
    def walk(cls, root: Path) -> RushesIndex:
        """One walk of the root, listing directories only: files are stat'ed when a shot needs them."""
        index = cls(Path(root))
        try:
            root_st = os.stat(root)
        except OSError as exc:
            raise RushesUnavailable(f"rushes root {root}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(root_st.st_mode):
            raise RushesUnavailable(f"rushes root {root} is not a directory")
        stack = [""]
        while stack:
            stack.extend(index._list(stack.pop()))
        if index.skipped:
            logger.warning("rushes under %s: %s name(s) not UTF-8, skipped", root, index.skipped)
        return index

    @classmethod
    def from_view(cls, root: Path, files: Mapping[str, FileStat]) -> RushesIndex:
        """The index of a scanner's view (relpath -> stat), which already walked the root."""
        index = cls(Path(root), stats=dict(files))
        for path in files:
            index._add(path)
        return index

    def find(self, name: str) -> list[str]:
        """The paths of the files called `name` (without case), sorted."""
        return sorted(self.by_name.get(name_key(name), ()))

    def stat(self, path: str) -> FileStat | None:
        """The file's size and mtime; None if it is gone or no longer a regular file."""
        known = self.stats.get(path)
        if known is not None:
            return known
        try:
            st = os.stat(self.root / path, follow_symlinks=False)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        self.stats[path] = FileStat.of(st)
        return self.stats[path]

    def absolute(self, path: str) -> Path:
        return self.root / path

    def _list(self, rel: str) -> list[str]:
        """Index one directory's files; return its subdirectories."""
        subdirs = []
        try:
            with os.scandir(self.root / rel if rel else self.root) as listing:
                entries = list(listing)
        except OSError as exc:
            self.unreadable[rel or "."] = f"{errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror or exc}"
            logger.warning("rushes: cannot list %s: %s", rel or self.root, exc)
            return subdirs
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(path)
                elif entry.is_file(follow_symlinks=False):
                    self._add(path)
            except OSError:  # gone between the listing and the look: it is not there
                continue
        return subdirs

    def _add(self, path: str) -> None:
        name = path.rpartition("/")[2]
        if not _decodable(path):
            self.skipped += 1
            return
        self.by_name.setdefault(name_key(name), []).append(path)
