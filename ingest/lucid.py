"""LucidLink's CLI: pin render folders to the local cache so verification and upload read
local blocks. Optional: used only when the binary is on PATH."""

import logging
import shutil
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)


class Pinner:
    """Runs `lucid pin --set DIR` once per folder per process."""

    def __init__(self, binary: str) -> None:
        self.binary = shutil.which(binary) if binary else None
        self._pinned: set[Path] = set()

    @property
    def enabled(self) -> bool:
        return self.binary is not None

    def pin(self, folder: Path) -> bool:
        if not self.enabled or folder in self._pinned:
            return False
        # The path is absolute (starts with "/"), so it can never be read as an option.
        command = [self.binary, "pin", "--set", str(folder.resolve())]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("lucid pin %s failed: %s", folder, exc)
            return False
        if result.returncode != 0:
            logger.warning("lucid pin %s exited %s: %s", folder, result.returncode, result.stderr.strip()[:200])
            return False
        self._pinned.add(folder)
        logger.info("pinned %s to the LucidLink cache", folder)
        return True
