"""The bad-input corpus, file names: each bad name or folder beside a good render, through the real watcher.

Each case must end in a clean quarantine (one row, printable, with a readable reason) while the good
render beside it is discovered, settled, verified and queued in the same ticks, the heartbeat stays
healthy, no error is logged, every live event is strict JSON, and a restarted watcher records nothing new.
"""

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.models import Render, WatcherHeartbeat
from ingest.rules import parse_rules
from ingest.services import WatchConfig
from ingest.watcher import Watcher
from postflow.models import LiveEvent
from tests.factories import make_watched_shot
from tests.ingest.media import make_clip
from tests.ingest.test_watcher import SETTLE, FakeClock

GOOD = "renders/review/UNDLM_SEQ01_00042_v001.mov"
HERE = b"renders/review/"


@dataclass(frozen=True)
class Case:
    id: str
    relpath: bytes  # the file made, relative to the root (a clip, so that only its name can be wrong)
    stored: str  # the path of the quarantined row: the rejected file, or the rejected folder
    reason: str  # a part of the row's reason


# (id, bytes in a name, how the ledger shows them, what the reason says)
BAD_PARTS = [
    ("undecodable", b"\xff\xfe", r"\xff\xfe", "not valid UTF-8"),
    ("latin-1", b"caf\xe9", r"caf\xe9", "not valid UTF-8"),
    ("cut-utf8-sequence", b"\xc3", r"\xc3", "not valid UTF-8"),
    ("overlong-utf8", b"\xc0\xaf", r"\xc0\xaf", "not valid UTF-8"),
    ("utf8-encoded-surrogate", b"\xed\xb3\xbf", r"\xed\xb3\xbf", "not valid UTF-8"),
    ("newline", b"\n", r"\n", "control character U+000A"),
    ("carriage-return", b"\r", r"\r", "control character U+000D"),
    ("tab", b"\t", r"\t", "control character U+0009"),
    ("terminal-escape", b"\x1b[31m", r"\x1b[31m", "control character U+001B"),
    ("delete", b"\x7f", r"\x7f", "control character U+007F"),
    ("c1-next-line", "\x85".encode(), r"\u0085", "control character U+0085"),
    ("bidi-override", "\u202e".encode(), r"\u202e", "control character U+202E"),
    ("bidi-isolate", "\u2066".encode(), r"\u2066", "control character U+2066"),
    ("backslash", b"\\", r"\\", "backslash (the Windows path separator)"),
]


def generated_cases() -> list[Case]:
    cases = []
    for id_, raw, shown, reason in BAD_PARTS:
        name, shown_name = b"UNDLM_00042" + raw + b"_v002.mov", f"UNDLM_00042{shown}_v002.mov"
        cases.append(Case(f"name-{id_}", HERE + name, f"renders/review/{shown_name}", f"{reason}: {shown_name}"))
        folder, shown_folder = b"SEQ" + raw, f"SEQ{shown}"
        cases.append(
            Case(f"folder-{id_}", HERE + folder + b"/UNDLM_00042_v002.mov", f"renders/review/{shown_folder}", reason)
        )
    return cases


def out_of_range(id_: str, name: str, reason: str) -> Case:
    return Case(id_, HERE + name.encode(), f"renders/review/{name}", reason)


CASES = [
    *generated_cases(),
    Case("name-leading-dash", HERE + b"-rf UNDLM_00042_v002.mov", "renders/review/-rf UNDLM_00042_v002.mov", "'-'"),
    Case("folder-leading-dash", HERE + b"-x/UNDLM_00042_v002.mov", "renders/review/-x", "starts with '-'"),
    Case("folder-three-dots", HERE + b".../UNDLM_00042_v002.mov", "renders/review/...", "only dots ('...')"),
    Case("folder-four-dots", HERE + b"..../UNDLM_00042_v002.mov", "renders/review/....", "only dots ('....')"),
    Case("name-only-an-extension", HERE + b".mov", "renders/review/.mov", "matches no naming template"),
    Case("name-dots-and-extension", HERE + b"....mov", "renders/review/....mov", "matches no naming template"),
    out_of_range("version-huge", "UNDLM_00042_v99999999999999999999.mov", "version 99999999999999999999 is out"),
    out_of_range("version-too-big", "UNDLM_00042_v100000.mov", "version 100000 is out of range (1–99,999)"),
    out_of_range("version-zero", "UNDLM_00042_v000.mov", "version 000 is out of range (1–99,999)"),
    out_of_range("version-230-digits", f"UNDLM_00042_v{'9' * 230}.mov", "version 99999999999999999999…(230 digits)"),
    out_of_range("scene-huge", "UNDLM_SEQ99999999999999999999_00042_v002.mov", "scene 99999999999999999999 is out"),
]


@pytest.fixture
def shot(db):
    return make_watched_shot()


@pytest.fixture
def root(tmp_path) -> Path:
    path = tmp_path / "mount"
    (path / "renders" / "review").mkdir(parents=True)
    return path


@pytest.fixture
def run(shot, root, enqueued, django_capture_on_commit_callbacks):
    """tick(restart=False, full=False): one tick of the watcher (a new one with `restart`), on commit."""
    clock = FakeClock()
    config = WatchConfig(
        root=root,
        settle_seconds=SETTLE,
        templates=["{project}_SEQ{scene}_{shot}_v{version}", "{project}_{shot}_v{version}"],
        extensions=frozenset({"mov", "mp4"}),
        tolerance_frames=2,
        rules=parse_rules(["*=review"]),
    )
    watchers = [Watcher(config, clock=clock, full_scan_seconds=300)]

    def tick(*, restart: bool = False, full: bool = False, advance: float = 0) -> None:
        clock.advance(advance)
        if restart:
            watchers.append(Watcher(config, clock=clock, full_scan_seconds=300))
        with django_capture_on_commit_callbacks(execute=True):
            watchers[-1].tick(full=full)

    return tick


def make_file(root: Path, relpath: bytes) -> None:
    target = os.path.join(os.fsencode(root), relpath)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.rename(make_clip(root / "staging.mov", frames=50), target)


def assert_clean_quarantine(case: Case, enqueued: list[tuple]) -> None:
    rows = {row.path: row for row in Render.objects.all()}
    assert set(rows) == {case.stored, GOOD}, "the bad entry is one row, and nothing under a rejected folder is"
    bad = rows[case.stored]
    assert bad.state == Render.State.QUARANTINED
    assert case.reason in bad.reason
    assert bad.path.isprintable() and bad.reason.isprintable()
    assert rows[GOOD].state == Render.State.QUEUED
    assert enqueued == [("frameio.tasks.upload_render", rows[GOOD].pk)]
    assert WatcherHeartbeat.objects.filter(healthy=False).count() == 0
    for payload in LiveEvent.objects.values_list("payload", flat=True):
        json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_bad_name_is_quarantined_and_nothing_else_is_affected(root, run, enqueued, caplog, case):
    make_file(root, case.relpath)
    make_clip(root / GOOD, frames=50)
    run()
    run(advance=SETTLE)
    assert_clean_quarantine(case, enqueued)
    run(restart=True, full=True, advance=SETTLE)  # a restarted watcher sees it all again: nothing new
    run(advance=SETTLE)
    assert_clean_quarantine(case, enqueued)
    assert not [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


def test_a_name_over_255_bytes_is_quarantined_where_the_filesystem_allows_it(root, run, enqueued):
    name = "UNDLM_00042_v002_" + "é" * 130 + ".mov"  # 281 bytes
    try:
        make_file(root, HERE + name.encode())
    except OSError as exc:
        pytest.skip(f"this filesystem refuses a 281-byte name ({exc.strerror}): NAME_MAX is 255 on most")
    make_clip(root / GOOD, frames=50)
    run()
    run(advance=SETTLE)
    assert_clean_quarantine(Case("long-name", b"", f"renders/review/{name}", "longer than 255 bytes (281)"), enqueued)


def test_a_path_over_1000_characters_is_quarantined_under_a_shortened_path(root, run, enqueued):
    folders = "/".join(f"{i}" * 200 for i in range(1, 6))
    make_file(root, HERE + folders.encode() + b"/UNDLM_00042_v002.mov")
    make_clip(root / GOOD, frames=50)
    run()
    run(advance=SETTLE)
    bad = Render.objects.get(state=Render.State.QUARANTINED)
    assert bad.reason == "path is longer than 1,000 characters (1,019)"
    assert (
        len(bad.path) <= 1000 and bad.path.startswith("renders/review/1111") and "\\… (1,019 characters, " in bad.path
    )
    assert_clean_quarantine(Case("long-path", b"", bad.path, "longer than 1,000"), enqueued)
