"""postflow.lib.shutdown: the stop a qcluster worker's SIGTERM asks for."""

import threading
import time

from postflow.lib import shutdown


def test_a_stop_request_ends_a_sleep_at_once():
    try:
        assert not shutdown.requested() and shutdown.sleep(0.05) is False
        threading.Timer(0.1, shutdown.request).start()
        began = time.monotonic()
        assert shutdown.sleep(60) is True
        assert time.monotonic() - began < 30 and shutdown.requested()
        assert shutdown.sleep(60) is True  # and every sleep after it
    finally:
        shutdown.reset()
