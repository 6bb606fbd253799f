"""Benchmark: a review proxy of a 1080p image sequence (#14, point 1).

    .venv/bin/python bench/proxy_encode.py [--frames 250] [--width 1920] [--height 1080]

Writes a `--frames`-frame PNG sequence (1920x1080 by default: a gradient, film-grain noise and a moving
disc, so that neither PNG nor H.264 gets it for free) under var/bench/, has the watcher verify it as a
render for review (a fresh SQLite database, one shot of that many frames at 25 fps), then times the real
proxy job (`ingest.proxies.proxy_build`: read every frame, scale to POSTFLOW_PROXY_WIDTH, draw the burn-in,
encode H.264, fsync, xxh3-128, rename, record, queue).

Prints the frames per second and the ratio to real time (25 fps); exits 1 if the proxy is not ready or
does not hold every frame.
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

FPS = 25
FIRST = 1001


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    args = parser.parse_args()

    workdir = new_workdir("proxy-")
    setup_standalone_django(workdir)
    logging.disable(logging.INFO)
    mount = workdir / "mount"
    started = time.perf_counter()
    size = _write_sequence(mount / "renders", args.frames, (args.width, args.height))
    print(f"{args.frames} frames {args.width}x{args.height} PNG, {size / 1e6:.0f} MB, written in "
          f"{time.perf_counter() - started:.1f} s under {mount}")  # fmt: skip
    render_id = _verified_render(mount, args.frames)

    from ingest import proxies

    started, cpu = time.perf_counter(), time.process_time()
    proxy = proxies.proxy_build(render_id=render_id)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    rate = args.frames / wall
    print(f"proxy: {proxy.width}x{proxy.height} H.264, {proxy.size / 1e6:.1f} MB, {proxy.frames} frames")
    print(f"encode: {wall:.1f} s wall, {cpu:.1f} s CPU ({os.cpu_count()} cores), {rate:.1f} frames/s, "
          f"{rate / FPS:.2f}x real time at {FPS} fps")  # fmt: skip
    if proxy.state != "ready" or proxy.frames != args.frames:
        print(f"proxy not built whole: {proxy.state} {proxy.last_error}")
        sys.exit(1)


def _write_sequence(folder: Path, frames: int, size: tuple[int, int]) -> int:
    from PIL import Image, ImageChops, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    gradient = Image.linear_gradient("L").resize(size)
    noise = [Image.effect_noise(size, 24), Image.effect_noise(size, 24).transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    total = 0
    for index in range(frames):
        grain = ImageChops.add(gradient, noise[index % 2], scale=1.6)
        image = Image.merge("RGB", (grain, gradient.rotate(180), Image.new("L", size, 60 + index % 120)))
        x = index * (width - height // 3) // max(frames, 1)
        ImageDraw.Draw(image).ellipse((x, height // 3, x + height // 3, 2 * height // 3), fill=(250, 200, 40))
        path = folder / f"UNDLM_00042_v001.{FIRST + index:04d}.png"
        image.save(path, compress_level=1)
        total += path.stat().st_size
    return total


def _verified_render(mount: Path, frames: int) -> int:
    """The sequence verified by the watcher, its proxy asked for (the job itself is what is timed)."""
    from ingest import jobs
    from ingest.models import Render
    from ingest.services import WatchConfig
    from ingest.watcher import Watcher
    from shots.models import Project, Scene, Shot

    jobs.async_task = lambda *args: None  # the job runs here, below, timed
    project = Project.objects.create(code="UNDLM", name="UNDLM Documentary", fps=FPS)
    scene = Scene.objects.create(project=project, name="REVEIL HOPITAL - JOUR", number=1)
    Shot.objects.create(
        project=project, scene=scene, shot_number="042", nomenclature="UNDLM_00042", duration=frames, timeline_in=0
    )
    config = WatchConfig.from_settings(mount)
    watcher = Watcher(WatchConfig(**{**config.__dict__, "settle_seconds": 0}))
    watcher.tick()
    watcher.tick()
    render = Render.objects.get()
    if render.state != Render.State.VERIFIED:
        sys.exit(f"the sequence was not verified: {render.state} {render.reason}")
    return render.pk


if __name__ == "__main__":
    main()
