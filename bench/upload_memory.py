"""Benchmark: peak RSS of the uploader while a large file goes to the Frame.io sandbox.

    .venv/bin/python bench/upload_memory.py [--gigabytes 4] [--concurrency 4]

Runs the real `manage.py frameio_upload` in a child process (SQLite under var/bench/, the
sandbox in this process, its data under var/bench/ too) and samples the child's RSS every
50 ms with psutil. The file is sparse: reading it costs no disk, so the figure is the
uploader's own memory. Prints the peak RSS, the throughput, and exits 1 above 100 MB.
"""

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import new_workdir  # noqa: E402
from frameio_sandbox.server import SandboxConfig, run_sandbox  # noqa: E402
from tests.processes import child_env  # noqa: E402

LIMIT_MB = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gigabytes", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    work = new_workdir("upload-")
    try:
        run(work, int(args.gigabytes * 1e9), args.concurrency)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, size: int, concurrency: int) -> None:
    with run_sandbox(SandboxConfig(port=0, data_dir=work / "sandbox", rate_limits=False)) as sandbox:
        env = child_env(work, sandbox, FRAMEIO_PART_CONCURRENCY=str(concurrency), LOG_LEVEL="WARNING")
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        sheet = work / "shots.csv"
        sheet.write_text("SHOT_NUMBER,NOMENCLATURE,SCENE\n001,UNDLM_00001,SCENE A\n")
        subprocess.run([*manage, "import_shots", str(sheet)], env=env, check=True, capture_output=True)
        render = work / "UNDLM_00001_v001.mov"
        with open(render, "wb") as handle:
            handle.truncate(size)  # sparse
        started = time.monotonic()
        child = subprocess.Popen(
            [*manage, "frameio_upload", str(render), "--shot", "UNDLM_00001", "--no-verify"],  # a sparse file
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        peak = sample_peak_rss(child)
        elapsed = time.monotonic() - started
        output = child.stdout.read()
    print(output.strip())
    print(f"file {size / 1e9:.2f} GB, {concurrency} parts in flight, {elapsed:.1f} s, {size / 1e6 / elapsed:.0f} MB/s")
    print(f"peak RSS of the uploading process: {peak / 1e6:.1f} MB (limit {LIMIT_MB} MB)")
    if child.returncode != 0 or peak > LIMIT_MB * 1e6:
        sys.exit(1)


def sample_peak_rss(child: subprocess.Popen) -> int:
    process = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            peak = max(peak, process.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    return peak


if __name__ == "__main__":
    main()
