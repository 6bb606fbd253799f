"""Shot-list files for tests, written the way spreadsheets export them."""

from pathlib import Path

HEADER = [
    "SHOT_NUMBER",
    "NOMENCLATURE",
    "SCENE",
    "SOURCE_FILE",
    "SOURCE_IN",
    "SOURCE_OUT",
    "TIMELINE_IN",
    "TIMELINE_OUT",
    "DURATION",
    "NOTES",
]
FRENCH_HEADER = [
    "N° Plan",
    "Nomenclature",
    "Séquence",
    "Fichier source",
    "TC In source",
    "TC Out source",
    "TC In montage",
    "TC Out montage",
    "Durée",
    "Commentaires",
]


def row(number: int, *, scene: str = "SCENE A", source: str | None = None, start: int = 0, **overrides) -> list[str]:
    """A valid row: shot `number`, 2 s long at 25 fps, placed at `start` seconds in the cut."""
    values = {
        "SHOT_NUMBER": f"{number:03d}",
        "NOMENCLATURE": f"UNDLM_{number:05d}",
        "SCENE": scene,
        "SOURCE_FILE": source or f"CLIP_{number:03d}.mov",
        "SOURCE_IN": "01:00:00:00",
        "SOURCE_OUT": "01:00:02:00",
        "TIMELINE_IN": f"00:00:{start:02d}:00",
        "TIMELINE_OUT": f"00:00:{start + 2:02d}:00",
        "DURATION": "00:00:02:00",
        "NOTES": "",
    }
    values.update({key.upper(): value for key, value in overrides.items()})
    return [values[name] for name in HEADER]


def write_csv(
    path: Path,
    rows: list[list[str]],
    *,
    header: list[str] = HEADER,
    delimiter: str = ",",
    encoding: str = "utf-8",
    newline: str = "\n",
    bom: bool = False,
) -> Path:
    def cell(value: str) -> str:
        if any(ch in value for ch in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    text = newline.join(delimiter.join(cell(value) for value in line) for line in [header, *rows]) + newline
    data = text.encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path
