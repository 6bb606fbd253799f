"""Generate a large, valid shot list (CSV) and its matching EDL, like the reference one."""

import random
from pathlib import Path

import opentimelineio.opentime as otime

HEADER = "SHOT_NUMBER,NOMENCLATURE,SCENE,SOURCE_FILE,SOURCE_IN,SOURCE_OUT,TIMELINE_IN,TIMELINE_OUT,DURATION,NOTES"
NOTES = ("", "retirer perche", "étalonnage chaud", "stabiliser", "=SUM(A1:A2)")


def _tc(frames: int, rate: int) -> str:
    return otime.to_timecode(otime.RationalTime(frames, rate), rate)


def write_sheet(path: Path, rows: int, *, rate: int = 25, seed: int = 1, shots_per_scene: int = 20) -> Path:
    """`rows` shots in cut order, about a third of them sharing a source clip."""
    rng = random.Random(seed)
    record = 0
    lines = [HEADER]
    for index in range(1, rows + 1):
        length = rng.randint(rate // 2, 2 * rate)  # short shots keep 50k rows inside 24 h of record
        source_index = rng.randint(1, max(1, rows * 2 // 3))
        source_in = rng.randint(0, 50 * 60 * rate)
        scene = f"SCENE {(index - 1) // shots_per_scene + 1:04d} - JOUR"
        lines.append(
            ",".join(
                [
                    f"{index:06d}",
                    f"BENCH_{index:06d}",
                    scene,
                    f"CLIP_{source_index:06d}.mov",
                    _tc(source_in, rate),
                    _tc(source_in + length, rate),
                    _tc(record, rate),
                    _tc(record + length, rate),
                    _tc(length, rate),
                    '"' + rng.choice(NOTES).replace('"', '""') + '"',
                ]
            )
        )
        record += length
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
