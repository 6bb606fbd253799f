"""A local emulator of the Frame.io v4 API and Adobe IMS (see docs/sandbox.md).

It is a fake of someone else's service, a top-level package and not a Django app: it imports nothing
from Django or postflow. Who may import it: `postflow.sandbox` (the one product module that does: the
mount in the web process and the `frameio_sandbox` management command), the tests, and bench/.
`python -m frameio_sandbox` runs it without Django.
"""

from frameio_sandbox.config import SandboxConfig
from frameio_sandbox.server import Sandbox, run_sandbox

__all__ = ["Sandbox", "SandboxConfig", "run_sandbox"]
