"""The delivered folder's ASC MHL history, through `ascmhl` (the ASC's reference implementation).

`seal` adds a generation to the folder's history (`ascmhl create`): every file in the folder is hashed
(xxh128, that is xxh3-128) and, when an earlier generation recorded it, verified against it; a mismatch or a
missing file fails. `mismatches` compares files with what the history recorded, without writing anything.
No models here.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable
from pathlib import Path

import click

from delivery.copying import PARTIAL
from ingest.verify import checksum_xxh128

# ascmhl (with lxml) is imported where a manifest is read or written, not with the app: every worker and
# the web process load the apps, and ascmhl alone adds ~12 MB to each (the uploader's memory budget).
ASCMHL_FOLDER = "ascmhl"  # ascmhl.__version__.ascmhl_folder_name; tests/delivery checks they agree
HASH_FORMAT = "xxh128"
# A killed run's partial files never enter a manifest.
IGNORE = [f"*{PARTIAL}*"]


class ManifestError(Exception):
    """ascmhl refused the folder; the message carries its own lines (which file, what hash)."""


def seal(folder: Path, *, comment: str) -> Path:
    """A new generation of the folder's history; returns the manifest (.mhl) it wrote."""
    from ascmhl import commands

    before = set(_manifests(folder))
    out, err = io.StringIO(), io.StringIO()
    try:
        # ascmhl prints its findings with click.echo to sys.stdout/sys.stderr: kept for the error message,
        # never mixed into a command's --json output.
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            commands.create_for_folder_subcommand(
                root_path=str(folder.resolve()),
                verbose=False,
                detect_renaming=False,
                hash_formats=[HASH_FORMAT],
                no_directory_hashes=False,
                author_name="postflow",
                author_email=None,
                author_phone=None,
                author_role="delivery",
                location=None,
                comment=comment,
                ignore_list=IGNORE,
            )
    except click.ClickException as exc:
        details = " ".join(line.strip() for line in (err.getvalue() + out.getvalue()).splitlines() if line.strip())
        raise ManifestError(f"ascmhl: {exc.format_message()}" + (f": {details}" if details else "")) from None
    written = sorted(set(_manifests(folder)) - before)
    if not written:
        raise ManifestError(f"ascmhl wrote no manifest in {folder}")
    return written[-1]


def _manifests(folder: Path) -> list[Path]:
    history = folder / ASCMHL_FOLDER
    return sorted(history.glob("*.mhl")) if history.is_dir() else []


def mismatches(folder: Path, paths: Iterable[str]) -> list[str]:
    """What differs between these files (relative to the folder) and the hash the history first recorded
    for them: one line per file, empty when every one matches. Reads only."""
    from ascmhl.history import MHLHistory

    try:
        history = MHLHistory.load_from_path(str(folder.resolve()))
    except click.ClickException as exc:
        return [f"{folder}: {exc.format_message()}"]
    problems = []
    for relative in paths:
        entry = history.find_original_hash_entry_for_path(relative)
        absolute = folder / relative
        if entry is None:
            problems.append(f"{relative}: not in the manifest")
        elif not os.path.isfile(absolute):
            problems.append(f"{relative}: missing")
        elif entry.hash_format != HASH_FORMAT:
            problems.append(f"{relative}: recorded as {entry.hash_format}, not {HASH_FORMAT}")
        elif (now := checksum_xxh128(absolute)) != entry.hash_string:
            problems.append(f"{relative}: xxh128 {now}, the manifest says {entry.hash_string}")
    return problems
