"""Copying one file so that the final name only ever holds a verified copy. No models here.

chunked read (hashed on the way) -> `<name>.partial-<token>` in the target folder -> fsync -> re-read and
xxh3-128 compare -> `os.replace` onto the final name; the caller syncs the folder once its files are in
place (`sync_folder`), before it records them delivered.

- A final file already there whose xxh3-128 is the expected one is kept, never copied again: a run that
  was killed resumes where it stopped.
- A killed run leaves at most its `.partial-<token>` files, never a final name; the next run removes them
  (`remove_partials`, once per folder, under the folder's lock).
- The source is hashed as it is read: a render changed since it was approved is refused (`changed`), and
  a copy that reads back differently (`mismatch`) or a full disk (`no_space`) fails the file. On any of
  these the partial is removed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import xxhash

from ingest.verify import checksum_xxh128, open_no_follow, read_blocks

CHUNK = 8 * 1024 * 1024
PARTIAL = ".partial-"

# Writes one chunk to the partial file; tests pass one that fails after N bytes (a full disk) or corrupts.
Writer = Callable[[BinaryIO, bytes | memoryview], object]


def write_chunk(handle: BinaryIO, chunk: bytes | memoryview) -> None:
    handle.write(chunk)


class CopyError(Exception):
    """One file could not be delivered; `kind` is changed, mismatch, no_space, missing or io."""

    def __init__(self, kind: str, path: Path | str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.kind, self.path, self.detail = kind, str(path), detail


def copy_verified(source: Path, target: Path, *, expected: str, token: str, write: Writer = write_chunk) -> bool:
    """Put a verified copy of `source` at `target`. True when copied, False when a matching copy was kept."""
    if _matches(target, expected):
        return False
    partial = target.with_name(f"{target.name}{PARTIAL}{token}")
    try:
        got = _copy_hashing(source, partial, write)
        if got != expected:
            raise CopyError("changed", source, f"xxh128 {got}, approved {expected}: the render changed since approval")
        reread = checksum_xxh128(partial)
        if reread != expected:
            raise CopyError("mismatch", target, f"the copy reads back as xxh128 {reread}, the source is {expected}")
        os.replace(partial, target)
    except CopyError:
        partial.unlink(missing_ok=True)
        raise
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _os_error(exc, source, target) from exc
    return True


def _copy_hashing(source: Path, partial: Path, write: Writer) -> str:
    digest = xxhash.xxh3_128()
    # O_EXCL: a partial name is this run's own; another run's token never collides with it.
    with open_no_follow(source) as reader, open(partial, "xb") as out:
        for chunk in read_blocks(reader, CHUNK):
            digest.update(chunk)
            write(out, chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _os_error(exc: OSError, source: Path, target: Path) -> CopyError:
    if exc.errno == errno.ENOSPC:
        return CopyError("no_space", target, "no space left on the delivery disk")
    if exc.errno == errno.ENOENT and exc.filename == str(source):
        return CopyError("missing", source, "missing since approval")
    return CopyError("io", target, exc.strerror or str(exc))


def _matches(target: Path, expected: str) -> bool:
    try:
        return target.is_file() and not target.is_symlink() and checksum_xxh128(target) == expected
    except OSError:
        return False


def remove_partials(folder: Path) -> int:
    """Partial files left in the folder by a run that was killed. The caller holds the folder's lock, so no
    live run is writing one; listed once per folder (a sequence's frames would make a listing per frame
    quadratic)."""
    removed = 0
    if not folder.is_dir():
        return removed
    with os.scandir(folder) as listing:
        for entry in listing:
            if PARTIAL in entry.name and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed += 1
    return removed


def sync_folder(folder: Path) -> None:
    """The renames into the folder survive a power cut only once the folder itself is synced."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
