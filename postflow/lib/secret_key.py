"""A SECRET_KEY for installs that did not set one."""

import contextlib
import os
import secrets
import tempfile
from pathlib import Path


def load_or_create_secret_key(path: Path) -> str:
    """Return the key stored at `path`, creating it (mode 0600) on first use.

    The key is written to a temporary file and hard-linked into place: link() fails if the
    name exists, so when the web process and a worker start together the loser reads the
    winner's complete key instead of writing its own or reading a half-written file.
    """
    if path.exists():
        return path.read_text().strip()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()
