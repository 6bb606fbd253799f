"""What the benchmark scripts share: where they write (var/bench/, which git ignores)."""

import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def new_workdir(prefix: str) -> Path:
    """A fresh directory under var/bench/ for one run (kept afterwards, to look at)."""
    base = ROOT / "var" / "bench"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
