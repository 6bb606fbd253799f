"""Bad conform EDLs, generated: each is refused with a message naming the file (and the line, event
and field when it is one event's fault), or read cleanly; the shot list beside it is never imported
on a refusal, and the seeded project is left exactly as it was."""

import re
from collections.abc import Callable

import pytest

from tests.corpus.importing import SEEDED, import_shots, seed, sheet, snapshot
from tests.shots.csvfiles import row

pytestmark = pytest.mark.django_db

TITLE = "TITLE: UNDLM_CONFORM\nFCM: NON-DROP FRAME\n\n"


def event(record_in: str = "00:00:00:00", record_out: str = "00:00:02:00", *, source: str | None = None) -> str:
    """One cut event on V; the source range follows the record range unless given."""
    source = source or "01:00:00:00 01:00:02:00"
    return f"001  AX       V     C        {source} {record_in} {record_out}\n* FROM CLIP NAME: CLIP_001.mov\n"


def edl(text: str, encoding: str = "utf-8", bom: bytes = b"") -> Callable[[], bytes]:
    return lambda: bom + text.encode(encoding)


# --- refused: a CommandError names the file and what is wrong -----------------------------------------

REFUSED: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty file": (edl(""), r"^cut\.edl: no events; is it the conform EDL \(CMX3600\)\?$"),
    "title only": (edl(TITLE), r"^cut\.edl: no events"),
    "text that is not an EDL": (edl("hello\nworld\n"), r"^cut\.edl: no events"),
    "timecode 25:61:61:99": (
        edl(TITLE + event("25:61:61:99", "01:00:01:00")),
        r"^cut\.edl: line 4, event 001: record in '25:61:61:99': hours 25 is over 23; minutes 61 is over 59; "
        r"seconds 61 is over 59; frame 99 does not exist at 25 fps$",
    ),
    "timecode with letters": (
        edl(TITLE + event("00:00:AA:00")),
        r"^cut\.edl: line 4, event 001: record in '00:00:AA:00': seconds 'AA' is not two digits$",
    ),
    "hours 24": (edl(TITLE + event(source="24:00:00:00 24:00:02:00")), r"source in '24:00:00:00': hours 24 is over 23"),
    "frame beyond the rate": (
        edl(TITLE + event("00:00:00:25", "00:00:02:25")),
        r"record in '00:00:00:25': frame 25 does not exist at 25 fps \(if the EDL is at another rate, pass --fps\)$",
    ),
    "drop-frame divider at 25 fps": (edl(TITLE + event("00:00:00;00")), r"record in '00:00:00;00': .*drop frame"),
    "frame count with letters": (
        edl(TITLE + event(source="90000 9OO25")),
        r"source out '9OO25': not a timecode \(HH:MM:SS:FF\) nor a frame count$",
    ),
    "record out before record in": (
        edl(TITLE + event("00:00:05:00", "00:00:01:00")),
        r"^cut\.edl: line 4, event 001: record out 00:00:01:00 is before record in 00:00:05:00$",
    ),
    "a 5 MB line": (
        lambda: (TITLE + "001  AX V C " + "9" * 5_000_000 + "\n").encode(),
        r"^cut\.edl: incorrect number of fields \[5\] in form statement: 001  AX V C 9+… \(5,000,\d+ characters\)",
    ),
    "an event of 5 fields": (edl(TITLE + "001  AX V C 01:00:00:00\n"), r"incorrect number of fields \[5\]"),
    "a comment before the first event": (edl(TITLE + "* NOTE\n" + event()), r"^cut\.edl: Unknown event type"),
    "overlapping events": (
        edl(TITLE + event() + event("00:00:01:00", "00:00:03:00").replace("001", "002", 1)),
        r"Overlapping record in value: 00:00:01:00",
    ),
    "PNG image": (edl("", bom=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), r"^cut\.edl: this is a PNG image, not text"),
    "UTF-16 without a BOM": (edl(TITLE + event(), "utf-16-le"), r"UTF-16 or UTF-32 without a byte-order mark"),
    "NUL in the title line": (edl("TITLE: A\x00B\n" + event()), r"first line has NUL bytes"),
}


@pytest.mark.parametrize(("make", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_a_bad_edl_is_refused_with_a_message_and_nothing_is_imported(
    tmp_path, django_capture_on_commit_callbacks, make, message
):
    seed(tmp_path)
    shots = tmp_path / "shots.csv"
    shots.write_text(sheet(*SEEDED, row(4, start=6)))  # would create shot 004 if the EDL were let through
    cut = tmp_path / "cut.edl"
    cut.write_bytes(make())
    before = snapshot()
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = import_shots(shots, "--edl", cut)
    assert outcome.error is not None and re.search(message, outcome.error), outcome.error
    assert len(outcome.error) < 400  # quoted short, whatever the line held
    assert outcome.report is None
    assert snapshot() == before and callbacks == []


# --- read cleanly --------------------------------------------------------------------------------------

READ_CLEANLY: dict[str, Callable[[], bytes]] = {
    "UTF-8 with a BOM": edl(TITLE + event(), bom=b"\xef\xbb\xbf"),
    "UTF-16-LE with a BOM": edl(TITLE + event(), "utf-16-le", b"\xff\xfe"),
    "CRLF line ends": edl((TITLE + event()).replace("\n", "\r\n")),
    "CR-only line ends": edl((TITLE + event()).replace("\n", "\r")),
    "Windows-1252 comment": edl(TITLE + event() + "* NOTE: étalonnage à revoir\n", "cp1252"),
    "frame counts instead of timecodes": edl(TITLE + event("0", "50", source="90000 90050")),
    "no title": edl(event()),
}


@pytest.mark.parametrize("make", READ_CLEANLY.values(), ids=READ_CLEANLY.keys())
def test_a_neighbour_that_reads_cleanly_is_checked_against_the_list(tmp_path, django_capture_on_commit_callbacks, make):
    seed(tmp_path)
    shots = tmp_path / "shots.csv"
    shots.write_text(sheet(*SEEDED))
    cut = tmp_path / "cut.edl"
    cut.write_bytes(make())
    before = snapshot()
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = import_shots(shots, "--edl", cut, "--dry-run")
    assert outcome.error is None
    assert outcome.report["edl_events"] == 1
    kinds = sorted(mismatch["kind"] for mismatch in outcome.report["conform"])
    assert kinds == ["shot_without_event", "shot_without_event"]  # the event is shot 001's; 002 and 003 have none
    assert snapshot() == before and callbacks == []
