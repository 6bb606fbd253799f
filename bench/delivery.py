"""Benchmark: `delivery` of one movie and one image sequence (#14, point 2).

    .venv/bin/python bench/delivery.py [--movie-mb 512] [--frames 2000] [--frame-kb 200]

Writes, under var/bench/, a movie of random bytes and a sequence of `--frames` frames of `--frame-kb` each
(the delivery copies bytes and never decodes them, so random data is what is measured), records them in the
ledger as verified renders of two approved shots (their xxh3-128 computed here, as the watcher would), then
runs `delivery.batches.deliver_shots` twice:

1. the delivery: copy (hashing the source on the way), fsync, re-read, rename, ASC MHL generation;
2. again: a no-op, each delivered file re-hashed against its manifest (no copy, no new generation).

Prints wall time and MB/s for each, and the time spent sealing the manifests (ascmhl). Exits 1 if a run did not end as
expected. Figures depend on the disk: run it where the delivery root will be to size POSTFLOW_DELIVERY_PATH.
"""

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import new_workdir  # noqa: E402
from tests.browser import setup_standalone_django  # noqa: E402

MB = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movie-mb", type=int, default=512)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--frame-kb", type=int, default=200)
    args = parser.parse_args()

    workdir = new_workdir("delivery-")
    setup_standalone_django(workdir)
    logging.disable(logging.INFO)
    from django.conf import settings

    settings.POSTFLOW_DELIVERY_PATH = workdir / "delivery"
    settings.POSTFLOW_DELIVERY_PATH.mkdir()
    mount = workdir / "mount"
    movie_shot, sequence_shot = _approved_renders(mount, args)
    total = _bytes(mount)
    print(f"{args.movie_mb} MB movie + {args.frames} frames of {args.frame_kb} KB = {total / MB:,.0f} MB under {mount}")

    first = _timed("deliver", [movie_shot, sequence_shot])
    second = _timed("again (no-op)", [movie_shot, sequence_shot])
    ok = [o.result for o in first.outcomes] == ["delivered", "delivered"]
    ok &= [o.result for o in second.outcomes] == ["unchanged", "unchanged"]
    if not ok:
        print("unexpected results:", [o.as_dict() for o in first.outcomes + second.outcomes])
        sys.exit(1)


def _approved_renders(mount: Path, args) -> tuple:
    import xxhash
    from django.utils import timezone

    from ingest.models import Render, RenderFrame
    from shots.services import shot_transition
    from shots.workflow import Status
    from tests.factories import make_project, make_render, make_scene, make_shot

    project = make_project(code="BENCH")
    scene = make_scene(project, "ONE", number=1)
    shots = [make_shot(project, scene=scene, status=Status.REVIEW_UPLOADED) for _ in range(2)]
    (mount / "renders").mkdir(parents=True)
    movie = mount / "renders" / f"{shots[0].nomenclature}_v001.mov"
    _write_random(movie, args.movie_mb * MB)
    make_render(
        movie.relative_to(mount).as_posix(), root=str(mount), state=Render.State.UPLOADED, shot=shots[0], version=1,
        size=movie.stat().st_size, checksum=_xxh(movie), verified_at=timezone.now(),
    )  # fmt: skip
    digests = []
    for frame in range(1001, 1001 + args.frames):
        path = mount / "renders" / f"{shots[1].nomenclature}_v001.{frame}.exr"
        _write_random(path, args.frame_kb * 1000)
        digests.append((frame, path.stat().st_size, _xxh(path)))
    combined = xxhash.xxh3_128("".join(f"{n} {d}\n" for n, _, d in digests).encode()).hexdigest()
    sequence = make_render(
        f"renders/{shots[1].nomenclature}_v001.####.exr", root=str(mount), state=Render.State.DONE, shot=shots[1],
        version=1, kind=Render.Kind.SEQUENCE, padding=4, first_frame=1001, last_frame=1000 + args.frames,
        frame_count=args.frames, size=sum(s for _, s, _ in digests), checksum=combined, verified_at=timezone.now(),
    )  # fmt: skip
    RenderFrame.objects.bulk_create(RenderFrame(render=sequence, frame=n, size=s, checksum=d) for n, s, d in digests)
    for shot in shots:
        shot_transition(shot_id=shot.pk, to_status=Status.REVIEW_APPROVED, actor="bench")
    return shots


def _timed(label: str, shots):
    from delivery import batches, manifest
    from shots.models import Shot

    sealing = []
    real_seal = manifest.seal

    def timed_seal(*a, **k):
        started = time.perf_counter()
        try:
            return real_seal(*a, **k)
        finally:
            sealing.append(time.perf_counter() - started)

    manifest.seal = timed_seal
    started = time.perf_counter()
    report = batches.deliver_shots(list(Shot.objects.filter(pk__in=[s.pk for s in shots]).order_by("pk")))
    wall = time.perf_counter() - started
    manifest.seal = real_seal
    moved = sum(o.bytes for o in report.outcomes)
    copied = sum(o.copied for o in report.outcomes)
    print(
        f"{label:<14} {wall:7.2f} s wall, {moved / MB / wall:7.1f} MB/s over {moved / MB:,.0f} MB, "
        f"{copied} file(s) copied, manifests {sum(sealing):.2f} s: {[o.result for o in report.outcomes]}"
    )
    return report


def _write_random(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 * MB))
            out.write(chunk)
            left -= len(chunk)


def _xxh(path: Path) -> str:
    from ingest.verify import checksum_xxh128

    return checksum_xxh128(path)


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


if __name__ == "__main__":
    main()
