"""A local emulator of the Frame.io v4 API and Adobe IMS (see docs/sandbox.md).

It is a fake of someone else's service: it imports nothing from Django or postflow, and postflow code
must not import it outside the `frameio_sandbox` command, the embedded default and tests.
"""

from frameio_sandbox.config import SandboxConfig
from frameio_sandbox.server import Sandbox, run_sandbox

__all__ = ["Sandbox", "SandboxConfig", "run_sandbox"]
