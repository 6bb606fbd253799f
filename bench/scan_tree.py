"""Benchmark: the watcher's polling scan against watchdog's DirectorySnapshot, on one generated render tree.

    .venv/bin/python bench/scan_tree.py [--files 100000] [--dirs-per-level 20,100] [--repeat 5]
                                        [--sequence-frames 100000]

The tree is generated under var/bench/tree-<files>/ (reused when its shape matches var/bench/tree-<files>.json;
var/ is not committed). Its shape, for the defaults:

    UNDLM/SEQ01 .. SEQ20/                       sequences          (first number of --dirs-per-level)
      00010 .. 01000/                           shots per sequence (second number)
        renders/ae/UNDLM_00010_comp_v001.0001.exr ...    an After Effects frame sequence
        renders/review/UNDLM_SEQ01_00010_v001.mov ...    review versions (.mov and .mp4)

4,000 leaf folders of 12 to 38 files each (25 on average), 100,000 files of 0 to 8 bytes, 8,022 directories.

--sequence-frames N adds one folder holding an N-frame image sequence (UNDLM/SEQ01/00010/renders/comp/
UNDLM_00010_comp_v002.000001.exr ...), and every scan is then followed by what the watcher does next:
ingest.sequences.SequenceIndex.fold, which folds frames into one entry per sequence.

In one run, with time.process_time (CPU) and several repetitions each, median reported:
DirectorySnapshot(root, recursive=True) (what watchdog's PollingObserver repeats every interval); our first
scan (full); a steady-state incremental scan (nothing changed); a full scan of the unchanged tree; and an
incremental scan after 10 files were added in 10 folders, with 100 files watched. Exits 1 if steady-state /
DirectorySnapshot is above 0.2 (the acceptance figure of issue 4), 2 if a scan reported the wrong changes.
"""

import argparse
import gc
import json
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watchdog.utils.dirsnapshot import DirectorySnapshot  # noqa: E402

from ingest.scanner import ScanResult, TreeScanner  # noqa: E402
from ingest.sequences import SequenceIndex  # noqa: E402

MAX_RATIO = 0.2
RENDER_SUFFIXES = (".mov", ".mp4", ".exr")


@dataclass
class Timing:
    label: str
    cpu: float  # median seconds of CPU
    wall: float  # median seconds of wall time
    result: ScanResult | None = None  # the last repetition's, for its counters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--dirs-per-level", default="20,100", help="sequences,shots per sequence (default 20,100)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sequence-frames", type=int, default=0, help="add one image sequence of this many frames")
    args = parser.parse_args()
    sequences, shots = (int(part) for part in args.dirs_per_level.split(","))

    tree = ensure_tree(args.files, sequences, shots, args.sequence_frames)
    print(f"tree {tree}: {args.files} files, {sequences} sequences x {shots} shots x 2 leaf folders", flush=True)
    if args.sequence_frames:
        print(f"  + one image sequence of {args.sequence_frames:,} frames, folded after every scan", flush=True)
    timings, failures = run_all(tree, args.repeat, fold=bool(args.sequence_frames))
    print_table(timings, args.repeat)
    ratio = timings[2].cpu / timings[0].cpu
    print(f"\nsteady-state / DirectorySnapshot (CPU): {ratio:.3f}  (must be <= {MAX_RATIO})")
    for failure in failures:
        print(f"WRONG: {failure}")
    if failures:
        sys.exit(2)
    if ratio > MAX_RATIO:
        sys.exit(1)


# -- the tree -------------------------------------------------------------------------------------------


def ensure_tree(files: int, sequences: int, shots: int, frames: int = 0) -> Path:
    """The generated tree, made again only if missing or of another shape."""
    bench = ROOT / "var" / "bench"
    name = f"tree-{files}" + (f"-seq{frames}" if frames else "")
    tree, marker = bench / name, bench / f"{name}.json"
    shape = {"files": files, "sequences": sequences, "shots": shots, "version": 1, "sequence_frames": frames}
    if tree.is_dir() and marker.is_file() and json.loads(marker.read_text()) == shape:
        return tree
    marker.unlink(missing_ok=True)
    shutil.rmtree(tree, ignore_errors=True)
    started = time.perf_counter()
    generate_tree(tree, files, sequences, shots)
    generate_sequence(tree, frames)
    marker.write_text(json.dumps(shape))  # last: a tree interrupted halfway is not reused
    print(f"generated {tree} in {time.perf_counter() - started:.1f} s", flush=True)
    return tree


def generate_tree(tree: Path, files: int, sequences: int, shots: int) -> None:
    rng = random.Random(42)
    leaves = [
        (seq, shot, stage)
        for seq in range(1, sequences + 1)
        for shot in range(1, shots + 1)
        for stage in ("ae", "review")
    ]
    for (seq, shot, stage), count in zip(leaves, leaf_sizes(files, len(leaves), rng), strict=True):
        shot_code = f"{shot * 10:05}"
        folder = tree / "UNDLM" / f"SEQ{seq:02}" / shot_code / "renders" / stage
        folder.mkdir(parents=True)
        for index in range(count):
            if stage == "ae":
                name = f"UNDLM_{shot_code}_comp_v001.{index + 1:04}.exr"
            else:
                name = f"UNDLM_SEQ{seq:02}_{shot_code}_v{index + 1:03}{RENDER_SUFFIXES[index % 2]}"
            (folder / name).write_bytes(b"x" * rng.randint(0, 8))


def generate_sequence(tree: Path, frames: int) -> None:
    """One render folder of `frames` numbered frames (what a long EbSynth or comp render leaves)."""
    if not frames:
        return
    folder = tree / "UNDLM" / "SEQ01" / "00010" / "renders" / "comp"
    folder.mkdir(parents=True)
    for frame in range(1, frames + 1):
        (folder / f"UNDLM_00010_comp_v002.{frame:06}.exr").write_bytes(b"x")


def leaf_sizes(files: int, leaves: int, rng: random.Random) -> list[int]:
    """`leaves` file counts summing to `files`, each within half the mean of the mean."""
    mean = files // leaves
    sizes = [mean] * leaves
    for index in range(files - mean * leaves):
        sizes[index] += 1
    for index in range(0, leaves - 1, 2):  # move files between neighbours: the total stays exact
        delta = rng.randint(-(mean // 2), mean // 2)
        sizes[index] += delta
        sizes[index + 1] -= delta
    return sizes


# -- the measures ---------------------------------------------------------------------------------------


class Folding:
    """A scanner whose every scan is folded by a SequenceIndex, as the watcher does (--sequence-frames)."""

    def __init__(self, scanner: TreeScanner) -> None:
        self.scanner = scanner
        self.index = SequenceIndex()

    def scan(self, **kwargs) -> ScanResult:
        raw = self.scanner.scan(**kwargs)
        folded = self.index.fold(raw)
        folded.dirs_listed, folded.dirs_statted, folded.files_statted = (
            raw.dirs_listed,
            raw.dirs_statted,
            raw.files_statted,
        )
        return folded

    def known(self) -> dict:
        return self.scanner.known()


def run_all(tree: Path, repeat: int, *, fold: bool = False) -> tuple[list[Timing], list[str]]:
    failures: list[str] = []
    snapshot = timed("watchdog DirectorySnapshot", repeat, lambda: DirectorySnapshot(str(tree), recursive=True))

    scanners: list = []

    def first_scan() -> ScanResult:
        scanner = TreeScanner(tree, accept=is_render)
        scanners.append(Folding(scanner) if fold else scanner)
        return scanners[-1].scan()

    first = timed("first scan (full)" + " + fold" * fold, repeat, first_scan)
    scanner = scanners[-1]
    del scanners[:-1]
    for _ in range(5):  # directories written within the racy window are listed once more
        if not scanner.scan().dirs_listed:
            break
    steady = timed("steady-state incremental", repeat, scanner.scan)
    full = timed("full scan, unchanged tree", repeat, lambda: scanner.scan(full=True))
    for timing in (steady, full):
        if has_changes(timing.result):
            failures.append(f"{timing.label} reported changes on an unchanged tree")

    changed = timed_after_changes(tree, scanner, repeat, failures)
    return [snapshot, first, steady, full, changed], failures


def timed_after_changes(tree: Path, scanner: "TreeScanner | Folding", repeat: int, failures: list[str]) -> Timing:
    """Add 10 files in 10 leaf folders, then time one incremental scan that also re-stats 100 watched files."""
    known = sorted(path for path in scanner.known() if "/renders/comp/" not in path)  # leaf folders, as before
    watch = known[:: len(known) // 100][:100]
    folders = sorted({path.rpartition("/")[0] for path in known})
    folders = folders[:: len(folders) // 10][:10]
    added: list[Path] = []
    cpu, wall = [], []
    result = None
    for rep in range(repeat):
        batch = [tree / folder / f"UNDLM_bench_{rep:02}_{index:02}.mov" for index, folder in enumerate(folders)]
        for path in batch:
            path.write_bytes(b"new")
        added += batch
        result, seconds = measure(lambda: scanner.scan(watch=watch))
        cpu.append(seconds[0])
        wall.append(seconds[1])
        expected = {path.relative_to(tree).as_posix() for path in batch}
        if set(result.appeared) != expected or result.changed or result.gone:
            failures.append(f"after adding 10 files the scan reported {summary(result)}")
    for path in added:
        path.unlink()
    return Timing("10 files added + 100 watched", statistics.median(cpu), statistics.median(wall), result)


def timed(label: str, repeat: int, work: Callable[[], object]) -> Timing:
    cpu, wall = [], []
    result = None
    for _ in range(repeat):
        result, seconds = measure(work)
        cpu.append(seconds[0])
        wall.append(seconds[1])
    return Timing(
        label, statistics.median(cpu), statistics.median(wall), result if isinstance(result, ScanResult) else None
    )


def measure(work: Callable[[], object]) -> tuple[object, tuple[float, float]]:
    gc.collect()  # garbage from the previous repetition is not this one's cost
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    return result, (time.process_time() - cpu, time.perf_counter() - wall)


def is_render(name: str) -> bool:
    return name.endswith(RENDER_SUFFIXES)


def has_changes(result: ScanResult | None) -> bool:
    return bool(result and (result.appeared or result.changed or result.gone or result.rejected))


def summary(result: ScanResult) -> str:
    return f"{len(result.appeared)} appeared, {len(result.changed)} changed, {len(result.gone)} gone"


def print_table(timings: list[Timing], repeat: int) -> None:
    title = f"measure (median of {repeat})"
    print(f"\n{title:<32} {'CPU ms':>9} {'wall ms':>9}   dirs listed / stat'ed, files stat'ed")
    for timing in timings:
        counters = ""
        if timing.result is not None:
            r = timing.result
            counters = f"{r.dirs_listed:>11,} / {r.dirs_statted:>6,}, {r.files_statted:>7,}"
        print(f"{timing.label:<32} {timing.cpu * 1000:>9.1f} {timing.wall * 1000:>9.1f}   {counters}")


if __name__ == "__main__":
    main()
