"""Run one function in several threads that start together, the way racing workers do."""

import threading
from collections.abc import Callable

from django.db import connections


def race(fn: Callable[[], object], *, threads: int, timeout: float = 60) -> tuple[list, list[BaseException]]:
    """Call `fn` in `threads` threads released at once by a barrier; return (results, errors).

    Each thread closes its own database connections, as a worker process would.
    """
    barrier = threading.Barrier(threads)
    results: list = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(fn())
        except Exception as exc:  # collected for the caller to assert on
            errors.append(exc)
        finally:
            connections.close_all()

    started = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(timeout=timeout)
    return results, errors
