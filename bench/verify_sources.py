"""Benchmark: `manage.py verify_sources` on the reference production's shape (#13, point 7).

    .venv/bin/python bench/verify_sources.py [--frames-margin 12] [--limit 30]

Imports samples/shots.csv with samples/timeline.edl (516 shots over 299 source files, 25 fps) into a fresh
SQLite database under var/bench/, then writes one small PyAV clip (64x36, mpeg4 in mov) per source file under
rushes/<day>/<camera>/, named as the shot list names it, with a start timecode (a tmcd track) such that its
shots' source ranges fit with `--frames-margin` frames to spare at each end. It then times the real command
twice, in this process: the first run finds, probes and checks everything; the second finds nothing new and
must probe nothing. Every probe is counted (the real probe runs, behind a counting wrapper).

Prints the wall time of each run and exits 1 if the first one is above `--limit` seconds (30), 2 if the
report is not 516 verified with no problem, or a clip was probed more than once.
"""

import argparse
import json
import logging
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import new_workdir  # noqa: E402
from tests.browser import setup_standalone_django  # noqa: E402

SAMPLES = ROOT / "samples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames-margin", type=int, default=12, help="frames of clip before and after its shots")
    parser.add_argument("--limit", type=float, default=30.0, help="seconds the first run must stay under")
    args = parser.parse_args()

    workdir = new_workdir("sources-")
    setup_standalone_django(workdir)
    logging.disable(logging.INFO)  # one line per shot moved: not what is measured
    _import_shot_list()
    rushes = workdir / "rushes"
    started = time.perf_counter()
    clips = _write_rushes(rushes, args.frames_margin)
    frames = sum(clip[2] for clip in clips)
    print(
        f"{len(clips)} clips, {frames:,} frames in all, written in {time.perf_counter() - started:.1f} s under {rushes}"
    )

    probes = _count_probes()
    first = _timed_run(rushes)
    first_probes = Counter(probes)
    second = _timed_run(rushes)
    print(f"first run:  {first['wall']:.2f} s wall, {first['cpu']:.2f} s CPU, {_summary(first)}, {len(probes)} probed")
    print(f"second run: {second['wall']:.2f} s wall, {second['cpu']:.2f} s CPU, {_summary(second)}, "
          f"{len(probes) - sum(first_probes.values())} probed")  # fmt: skip
    wrong = first["verified"] != 516 or first["problems"] or second["already"] != 516 or second["problems"]
    twice = [path for path, count in Counter(probes).items() if count > 1]
    if wrong or twice or len(first_probes) != len(clips):
        print(f"WRONG: probed twice {twice[:3]}; first problems {first['problems'][:3]}")
        sys.exit(2)
    if first["wall"] > args.limit:
        print(f"SLOW: above {args.limit:g} s")
        sys.exit(1)


def _import_shot_list() -> None:
    from django.core.management import call_command

    out = StringIO()
    call_command(
        "import_shots", str(SAMPLES / "shots.csv"), "--edl", str(SAMPLES / "timeline.edl"), "--json", stdout=out
    )
    report = json.loads(out.getvalue())
    print(f"imported {report['created']} shots from samples/shots.csv (with samples/timeline.edl)")


def _write_rushes(rushes: Path, margin: int) -> list[tuple[Path, str, int, float]]:
    """One clip per source file, spanning its shots' source ranges with `margin` frames either side."""
    from postflow.lib.timecode import frames_to_timecode
    from shots.models import Project, Shot

    fps = Project.objects.get().fps  # the shot list's one project; clips are written at its rate
    spans: dict[str, list[int]] = defaultdict(list)
    for name, source_in, source_out in Shot.objects.filter(source_file__isnull=False).values_list(
        "source_file__name", "source_in", "source_out"
    ):
        spans[name] += [source_in, source_out]
    clips = []
    for name, marks in sorted(spans.items()):
        start = max(0, min(marks) - margin)
        clips.append((rushes / _folder(name) / name, frames_to_timecode(start, fps), max(marks) + margin - start, fps))
    with ProcessPoolExecutor(max_workers=2) as pool:
        list(pool.map(_write_clip, clips, chunksize=8))
    return clips


def _folder(name: str) -> str:
    """Where a DIT would offload it: A_0002C108X250401_165644G6_UNDLM.mov -> 250401/A."""
    camera, _, rest = name.partition("_")
    day = rest.split("X", 1)[1][:6] if "X" in rest else "unknown"
    return f"{day}/{camera}"


def _write_clip(clip: tuple[Path, str, int, float]) -> None:
    from fractions import Fraction

    from tests.ingest.media import make_clip

    path, timecode, frames, fps = clip
    rate = Fraction(fps).limit_denominator(1001)
    make_clip(path, frames=frames, fps=rate, timecode=timecode, faststart=False)  # index at the end, as cameras


def _count_probes() -> list[Path]:
    from ingest import sources

    probes: list[Path] = []
    real = sources.probe_source

    def counting(path: Path):
        probes.append(Path(path))
        return real(path)

    sources.probe_source = counting
    return probes


def _timed_run(rushes: Path) -> dict:
    from django.core.management import call_command

    out = StringIO()
    wall, cpu = time.perf_counter(), time.process_time()
    call_command("verify_sources", "--root", str(rushes), "--json", stdout=out)
    report = json.loads(out.getvalue())
    return {**report, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def _summary(report: dict) -> str:
    return f"{report['verified']} verified, {report['already']} already, {len(report['problems'])} problem(s)"


if __name__ == "__main__":
    main()
