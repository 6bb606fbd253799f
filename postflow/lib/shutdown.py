"""A stop asked of this process (a qcluster worker's SIGTERM, see postflow/management/commands/qcluster.py).

Long jobs look at it where stopping is safe and end early, the way they end on a lost lease: an
upload keeps the parts already sent and gives its lease back. `request` may be installed as the
signal handler itself: it only sets a flag. A handler must not take a lock (a `threading.Event`
has one): it runs in the main thread, between two bytecodes of whatever that thread was doing,
possibly inside that very lock.
"""

import time

_requested = False


def request(_signum: int | None = None, _frame: object = None) -> None:
    global _requested
    _requested = True


def requested() -> bool:
    return _requested


def sleep(seconds: float) -> bool:
    """Sleep up to `seconds`, in short steps: True, at once, if a stop is (or gets) requested."""
    deadline = time.monotonic() + seconds
    while not _requested:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, 0.1))
    return True


def reset() -> None:
    """For tests: no stop requested."""
    global _requested
    _requested = False
