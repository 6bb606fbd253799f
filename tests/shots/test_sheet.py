import pytest

from shots.sheet import SheetError, map_columns, normalize_header, read_sheet
from tests.shots.csvfiles import FRENCH_HEADER, HEADER, row, write_csv


def test_reference_sample_maps_every_column(samples_dir):
    sheet = read_sheet(samples_dir / "shots.csv")
    assert sheet.encoding == "utf-8"
    assert sheet.delimiter == ","
    assert set(sheet.mapping) == {name.lower() for name in HEADER}
    assert len(sheet.rows) == 516
    assert sheet.rows[0].line == 2
    assert sheet.rows[0].cells["nomenclature"] == "UNDLM_00001"


def test_excel_french_export_semicolon_cp1252_crlf_bom_free(tmp_path):
    rows = [row(1, scene="Séquence café", notes="étalonnage chaud; garder"), row(2, start=2)]
    path = write_csv(
        tmp_path / "plans.csv", rows, header=FRENCH_HEADER, delimiter=";", encoding="cp1252", newline="\r\n"
    )
    sheet = read_sheet(path)
    assert (sheet.encoding, sheet.delimiter) == ("cp1252", ";")
    assert sheet.mapping["shot_number"] == "N° Plan"
    assert sheet.mapping["timeline_in"] == "TC In montage"
    assert sheet.rows[0].cells["scene"] == "Séquence café"
    assert sheet.rows[0].cells["notes"] == "étalonnage chaud; garder"
    assert [r.line for r in sheet.rows] == [2, 3]


def test_utf8_bom_tab_delimited_and_blank_lines_keep_true_line_numbers(tmp_path):
    path = tmp_path / "tabs.csv"
    body = (
        "\t".join(HEADER) + "\r\n\r\n" + "\t".join(row(1)) + "\r\n\t\t\t\r\n\r\n" + "\t".join(row(2, start=2)) + "\r\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    sheet = read_sheet(path)
    assert sheet.delimiter == "\t"
    assert sheet.mapping["shot_number"] == "SHOT_NUMBER"  # the BOM is not part of the first header
    assert [r.line for r in sheet.rows] == [3, 6]


def test_multiline_quoted_cell_counts_lines(tmp_path):
    path = write_csv(tmp_path / "ml.csv", [row(1, notes="line one\nline two"), row(2, start=2)])
    assert [r.line for r in read_sheet(path).rows] == [2, 4]


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("N° Plan", "shot_number"),
        ("n° PLAN", "shot_number"),
        ("Shot Number", "shot_number"),
        ("SÉQUENCE", "scene"),
        ("Scène", "scene"),
        ("fichier_source", "source_file"),
        ("TC IN MONTAGE", "timeline_in"),
        ("Record Out", "timeline_out"),
        ("Durée", "duration"),
        ("Commentaires", "notes"),
    ],
)
def test_aliases_ignore_case_accents_and_punctuation(header, canonical):
    required = {"shot_number": "Plan", "scene": "Scene"}
    headers = [header, *(other for name, other in required.items() if name != canonical)]
    mapping, _ = map_columns(headers)
    assert mapping[canonical] == header


def test_normalize_header():
    assert normalize_header("N° Plan") == "nplan"
    assert normalize_header("TC In montage") == "tcinmontage"
    assert normalize_header("Séquence") == "sequence"


def test_missing_required_column_lists_headers_seen():
    with pytest.raises(SheetError) as exc:
        map_columns(["Plan", "Clip", "Foo"])
    message = str(exc.value)
    assert "scene" in message
    assert "'Plan', 'Clip', 'Foo'" in message
    assert "--columns" in message


def test_columns_override_maps_custom_headers_and_ignores_the_rest():
    mapping, ignored = map_columns(["Shot ID", "Where", "Clip"], {"shot_number": "Shot ID", "scene": "Where"})
    assert mapping == {"shot_number": "Shot ID", "scene": "Where", "source_file": "Clip"}
    assert ignored == []


def test_columns_override_errors():
    with pytest.raises(SheetError, match="unknown fields"):
        map_columns(["Plan", "Scene"], {"shot": "Plan"})
    with pytest.raises(SheetError, match="not a header"):
        map_columns(["Plan", "Scene"], {"shot_number": "Nope"})


def test_two_columns_for_one_field_is_an_error():
    with pytest.raises(SheetError, match="both look like scene"):
        map_columns(["Plan", "Scene", "Séquence"])


def test_duplicate_header_is_an_error(tmp_path):
    path = write_csv(tmp_path / "dup.csv", [row(1)], header=[*HEADER[:-1], "SCENE"])
    with pytest.raises(SheetError, match="appears twice"):
        read_sheet(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(SheetError, match="cannot read"):
        read_sheet(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n")
    with pytest.raises(SheetError, match="empty"):
        read_sheet(empty)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"SHOT,SCENE\n\x81\x8d\x8f\x90,\x9d\n")  # undefined in cp1252, invalid UTF-8
    with pytest.raises(SheetError, match="neither UTF-8 nor Windows-1252"):
        read_sheet(binary)


def test_a_first_line_over_the_csv_field_limit_is_a_message(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("A" * 140_000 + "\n1\n")
    with pytest.raises(SheetError, match=r"^line 1: .*131,072 characters") as error:
        read_sheet(path)
    assert len(str(error.value)) < 300


@pytest.mark.parametrize(
    ("encoding", "bom", "name"),
    [
        ("utf-16-le", b"\xff\xfe", "utf-16-le"),
        ("utf-16-be", b"\xfe\xff", "utf-16-be"),
        ("utf-32-le", b"\xff\xfe\x00\x00", "utf-32-le"),
        ("utf-32-be", b"\x00\x00\xfe\xff", "utf-32-be"),
    ],
)
def test_utf16_and_utf32_with_a_byte_order_mark_are_read(tmp_path, encoding, bom, name):
    path = write_csv(tmp_path / "wide.csv", [row(1, scene="Scène ☾")], encoding=encoding)
    path.write_bytes(bom + path.read_bytes())
    sheet = read_sheet(path)
    assert sheet.encoding == name
    assert sheet.mapping["shot_number"] == "SHOT_NUMBER"
    assert sheet.rows[0].cells["scene"] == "Scène ☾"


def test_utf16_without_a_byte_order_mark_is_refused_by_name(tmp_path):
    path = write_csv(tmp_path / "u16.csv", [row(1)], encoding="utf-16-le")
    with pytest.raises(SheetError, match="UTF-16 or UTF-32 without a byte-order mark"):
        read_sheet(path)


def test_headers_quoted_in_a_message_are_cut_short(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text(",".join(f"column {i} " + "x" * 300 for i in range(1000)) + "\n1\n")
    with pytest.raises(SheetError, match="no column for required field") as error:
        read_sheet(path)
    assert len(str(error.value)) < 3000 and "and 990 more" in str(error.value)


def test_a_quote_never_closed_is_refused_instead_of_swallowing_the_rows_below(tmp_path):
    # Read as one cell, rows 3 and 4 would vanish, and a re-import would flag their shots omitted.
    path = write_csv(tmp_path / "open.csv", [row(1), row(2, start=2, notes='"à revoir'), row(3, start=4)])
    path.write_text(path.read_text().replace('"""à revoir"', '"à revoir'))
    with pytest.raises(SheetError, match=r"^line 3: a quoted cell opened on this row is never closed"):
        read_sheet(path)
