"""Benchmark: import a generated N-row shot list, then re-import it unchanged.

    .venv/bin/python bench/import_shots.py [--rows 50000]

Runs the real `import_shots` command against a fresh SQLite database under var/bench/ (WAL,
as in production) and prints wall and CPU seconds for each run and their ratio. Compare
ratios from one run: machines here are shared and noisy.
"""

import argparse
import json
import sys
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import new_workdir  # noqa: E402
from tests.browser import setup_standalone_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()

    workdir = new_workdir("import-")
    database = setup_standalone_django(workdir)

    from bench.sheetgen import write_sheet

    sheet = write_sheet(workdir / "shots.csv", args.rows)
    print(f"{args.rows} rows, {sheet.stat().st_size / 1e6:.1f} MB, database {database}", flush=True)
    first = _timed_import(sheet)
    second = _timed_import(sheet)
    print(f"first import:   {first['wall']:.2f} s wall, {first['cpu']:.2f} s CPU, created {first['created']}")
    print(f"re-import:      {second['wall']:.2f} s wall, {second['cpu']:.2f} s CPU, unchanged {second['unchanged']}")
    print(f"re-import / first import (wall): {second['wall'] / first['wall']:.2f}")


def _timed_import(sheet: Path) -> dict:
    from django.core.management import call_command

    out = StringIO()
    wall, cpu = time.perf_counter(), time.process_time()
    call_command("import_shots", str(sheet), "--json", stdout=out)
    report = json.loads(out.getvalue())
    return {**report, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


if __name__ == "__main__":
    main()
