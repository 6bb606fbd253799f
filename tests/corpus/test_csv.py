"""Bad shot lists, generated: each is refused whole with a message, or row by row with its line and
column, or read cleanly; and in every case the seeded project is left exactly as it was."""

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.corpus.importing import SEEDED, import_shots, seed, sheet, snapshot
from tests.shots.csvfiles import HEADER, row

pytestmark = pytest.mark.django_db

NEW = row(4, start=6)  # a fourth shot: an import that went through would create it (line 5)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def text(*rows: list[str], **kwargs) -> Callable[[], bytes]:
    return lambda: sheet(*rows, **kwargs).encode()


def encoded(encoding: str, bom: bytes = b"", **kwargs) -> Callable[[], bytes]:
    return lambda: bom + sheet(*SEEDED, NEW, **kwargs).encode(encoding)


def raw(data: bytes) -> Callable[[], bytes]:
    return lambda: data


# --- refused whole: a CommandError says why, and nothing is planned --------------------------------

REFUSED_FILES: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty file": (raw(b""), r"shots\.csv is empty$"),
    "blank lines only": (raw(b"\n\r\n   \n\t\n"), r"shots\.csv is empty$"),
    "a UTF-8 BOM only": (raw(b"\xef\xbb\xbf"), r"shots\.csv is empty$"),
    "header only": (text(), r"shots\.csv has a header but no rows under it"),
    "header only, blank lines below": (lambda: sheet().encode() + b"\n,,,\n\n", r"has a header but no rows"),
    "first line over 131,072 characters": (
        lambda: b"A" * 140_000 + b"\n" + sheet(*SEEDED).encode(),
        r"^line 1: a cell over 131,072 characters whatever the delimiter",
    ),
    "a cell over 131,072 characters on line 3": (
        text(row(1), row(2, start=2, notes="x" * 140_000)),
        r"^line 3: field larger than field limit \(131072\); check the quoting",
    ),
    "UTF-16-LE without a BOM": (encoded("utf-16-le"), r"UTF-16 or UTF-32 without a byte-order mark"),
    "UTF-16-BE without a BOM": (encoded("utf-16-be"), r"UTF-16 or UTF-32 without a byte-order mark"),
    "UTF-32-LE without a BOM": (encoded("utf-32-le"), r"UTF-16 or UTF-32 without a byte-order mark"),
    "NUL in the header line": (raw(b"SHOT\x00_NUMBER,SCENE\n001,S\n"), r"first line has NUL bytes"),
    "UTF-16 BOM, then an odd byte": (
        lambda: b"\xff\xfe" + sheet(*SEEDED).encode("utf-16-le") + b"\x00",
        r"starts with a UTF-16-LE byte-order mark, but byte \d+ is not",
    ),
    "PNG image": (raw(PNG), r"this is a PNG image, not text; export the sheet again as CSV"),
    "JPEG image": (raw(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"), r"this is a JPEG image"),
    "PDF": (raw(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), r"this is a PDF document"),
    ".xlsx workbook": (raw(b"PK\x03\x04\x14\x00\x06\x00"), r"a ZIP archive \(an \.xlsx or \.ods workbook\?\)"),
    ".xls workbook": (raw(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00"), r"an Excel 97-2003 workbook"),
    "bytes neither UTF-8 nor Windows-1252": (
        raw(b"SHOT_NUMBER,SCENE\n\x81\x8d\x8f,\x9d\n"),
        r"byte 18 is neither UTF-8 nor Windows-1252 text",
    ),
    "duplicated header": (text(*SEEDED, header=[*HEADER[:-1], "SCENE"]), r"the header 'SCENE' appears twice"),
    "10,000 headers, none known": (
        lambda: (",".join(f"column {i}" for i in range(10_000)) + "\n1\n").encode(),
        r"no column for required field\(s\) shot_number, scene; headers seen: 'column 0', .*, … and 9990 more",
    ),
    "a header of 5,000 characters, twice": (
        text(*SEEDED, header=[*HEADER, "H" * 5000, "H" * 5000]),
        r"the header 'H{60}… \(5,000 characters\)' appears twice",
    ),
    "a quote never closed": (
        lambda: sheet(row(1), row(2, start=2, notes="OPEN"), row(3, start=4)).replace("OPEN", '"à revoir').encode(),
        r"^line 3: a quoted cell opened on this row is never closed",
    ),
    "text after a closing quote": (
        lambda: sheet(*SEEDED).replace(",SCENE A,", ',"SCENE A"x,', 1).encode(),
        r"^line 2: ',' expected after '\"'; check the quoting",
    ),
}


@pytest.mark.parametrize(("make", "message"), REFUSED_FILES.values(), ids=REFUSED_FILES.keys())
def test_a_file_that_is_not_a_shot_list_is_refused_with_a_message(
    tmp_path, django_capture_on_commit_callbacks, make, message
):
    seed(tmp_path)
    path = tmp_path / "shots.csv"
    path.write_bytes(make())
    before = snapshot()
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = import_shots(path)
    assert outcome.error is not None and re.search(message, outcome.error), outcome.error
    assert len(outcome.error) < 1000  # quoted short, whatever the file holds
    assert outcome.report is None  # refused before any plan
    assert snapshot() == before and callbacks == []


# --- refused row by row: the report names each line and column; nothing is written -------------------


@dataclass(frozen=True)
class BadRow:
    make: Callable[[], bytes]
    problems: list[tuple[int, str, str]]  # (line, column, what the reason says)


def appended(**override: str) -> Callable[[], bytes]:
    """The seeded rows, then shot 004 (line 5) with `override`."""
    return text(*SEEDED, row(4, start=6, **override))


REFUSED_ROWS: dict[str, BadRow] = {
    "shot number of 5,000 characters": BadRow(
        appended(shot_number="9" * 5000), [(5, "SHOT_NUMBER", "is 5,000 characters long; at most 32 fit")]
    ),
    "scene of 1,000 characters": BadRow(
        appended(scene="S" * 1000), [(5, "SCENE", "is 1,000 characters long; at most 200 fit")]
    ),
    "nomenclature of 101 characters": BadRow(
        appended(nomenclature="UNDLM_" + "0" * 95), [(5, "NOMENCLATURE", "at most 100 fit")]
    ),
    "source file of 501 characters": BadRow(appended(source_file="c" * 501), [(5, "SOURCE_FILE", "at most 500 fit")]),
    "notes of 10,001 characters": BadRow(appended(notes="n" * 10_001), [(5, "NOTES", "at most 10,000 fit")]),
    "timecode of 12 characters": BadRow(
        appended(timeline_in="000:00:06:00"), [(5, "TIMELINE_IN", "is 12 characters long; at most 11 fit")]
    ),
    "NUL in a scene name": BadRow(
        appended(scene="SCENE\x00A"), [(5, "SCENE", "has a control character (U+0000) at character 6")]
    ),
    "escape sequence in a nomenclature": BadRow(
        appended(nomenclature="UNDLM_\x1b[31m"), [(5, "NOMENCLATURE", "a control character (U+001B) at character 7")]
    ),
    "tab in a shot number": BadRow(appended(shot_number="00\t4"), [(5, "SHOT_NUMBER", "(U+0009) at character 3")]),
    "DEL in a source file": BadRow(appended(source_file="CLIP\x7f.mov"), [(5, "SOURCE_FILE", "(U+007F)")]),
    "C1 control in notes": BadRow(appended(notes="a\x85b"), [(5, "NOTES", "a control character (U+0085)")]),
    "line break in a scene name": BadRow(appended(scene="SCENE\nA"), [(5, "SCENE", "a line break (U+000A)")]),
    "timecode with letters": BadRow(
        appended(timeline_in="00:00:AA:00"), [(5, "TIMELINE_IN", "bad timecode: seconds 'AA' is not two digits")]
    ),
    "timecode 25:61:61:99": BadRow(
        appended(timeline_in="25:61:61:99"),
        [
            (
                5,
                "TIMELINE_IN",
                "bad timecode: hours 25 is over 23; minutes 61 is over 59; seconds 61 is over 59; "
                "frame 99 does not exist at 25 fps",
            )
        ],
    ),
    "frame beyond the rate": BadRow(
        appended(source_in="01:00:00:25"), [(5, "SOURCE_IN", "frame 25 does not exist at 25 fps")]
    ),
    "record out before record in": BadRow(
        appended(timeline_out="00:00:05:00", duration=""),
        [(5, "TIMELINE_OUT", "timeline_out is not after timeline_in")],
    ),
    "duration of 99,999,999 frames": BadRow(
        appended(duration="99999999", timeline_in="", timeline_out="", source_in="", source_out=""),
        [(5, "DURATION", "is 99,999,999 frames, more than 24 hours")],
    ),
    "duration in superscript digits": BadRow(appended(duration="5²"), [(5, "DURATION", "bad timecode")]),
    "CR-only line ends, a bad timecode on line 3": BadRow(
        text(row(1), row(2, start=2, timeline_in="nope"), row(3, start=4), newline="\r"),
        [(3, "TIMELINE_IN", "not a timecode in HH:MM:SS:FF form")],
    ),
    "two bad cells, two lines": BadRow(
        text(row(1, scene="\x00"), row(2, start=2), row(3, start=4, shot_number="3" * 33)),
        [(2, "SCENE", "(U+0000)"), (4, "SHOT_NUMBER", "is 33 characters long")],
    ),
}


@pytest.mark.parametrize("case", REFUSED_ROWS.values(), ids=REFUSED_ROWS.keys())
def test_a_bad_cell_is_a_report_line_with_its_line_and_column(tmp_path, django_capture_on_commit_callbacks, case):
    seed(tmp_path)
    path = tmp_path / "shots.csv"
    path.write_bytes(case.make())
    before = snapshot()
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = import_shots(path)
    assert outcome.error is not None and "problem(s) in the sheet; nothing was written" in outcome.error
    assert outcome.report["applied"] is False
    found = [(p["line"], p["column"], p["reason"]) for p in outcome.report["invalid"]]
    assert [(line, column) for line, column, _ in found] == [(line, column) for line, column, _ in case.problems]
    for (_, _, reason), (_, _, expected) in zip(found, case.problems, strict=True):
        assert expected in reason
    assert all(len(p["value"]) <= 230 for p in outcome.report["invalid"])  # 200 characters and the length
    assert snapshot() == before and callbacks == []


# --- read cleanly: neighbours that already work stay here, so that they keep working ------------------

READ_CLEANLY: dict[str, tuple[Callable[[], bytes], str]] = {
    "UTF-8 with a BOM": (encoded("utf-8", b"\xef\xbb\xbf"), "utf-8"),
    "UTF-16-LE with a BOM": (encoded("utf-16-le", b"\xff\xfe"), "utf-16-le"),
    "UTF-16-BE with a BOM": (encoded("utf-16-be", b"\xfe\xff"), "utf-16-be"),
    "UTF-32-LE with a BOM": (encoded("utf-32-le", b"\xff\xfe\x00\x00"), "utf-32-le"),
    "UTF-32-BE with a BOM": (encoded("utf-32-be", b"\x00\x00\xfe\xff"), "utf-32-be"),
    "Windows-1252, semicolons, CRLF": (
        lambda: (
            sheet(*SEEDED, row(4, start=6, scene="Séquence café"), newline="\r\n").replace(",", ";").encode("cp1252")
        ),
        "cp1252",
    ),
    "CRLF line ends": (encoded("utf-8", newline="\r\n"), "utf-8"),
    "CR-only line ends": (encoded("utf-8", newline="\r"), "utf-8"),
    "a row of 10,000 columns": (text(*SEEDED, [*NEW, *(["x"] * 9_990)]), "utf-8"),
    "notes with line breaks and tabs": (text(*SEEDED, row(4, start=6, notes="one\r\ntwo\tthree")), "utf-8"),
    "a stray quote in an unquoted cell": (
        lambda: (
            (sheet(*SEEDED) + sheet(NEW).split("\n", 1)[1]).replace("CLIP_004.mov", 'CLIP_004 5" monitor.mov').encode()
        ),
        "utf-8",
    ),
}


@pytest.mark.parametrize(("make", "encoding"), READ_CLEANLY.values(), ids=READ_CLEANLY.keys())
def test_a_neighbour_that_reads_cleanly_plans_one_new_shot(
    tmp_path, django_capture_on_commit_callbacks, make, encoding
):
    seed(tmp_path)
    path = tmp_path / "shots.csv"
    path.write_bytes(make())
    before = snapshot()
    with django_capture_on_commit_callbacks() as callbacks:
        outcome = import_shots(path, "--dry-run")
    assert outcome.error is None
    report = outcome.report
    assert (report["encoding"], report["rows"], report["invalid"]) == (encoding, 4, [])
    assert (report["created"], report["changes"]["created"], report["applied"]) == (1, ["004"], False)
    assert snapshot() == before and callbacks == []
