"""`manage.py qcluster`: django-q2's cluster, which SIGTERM (or Ctrl-C) stops within Q_STOP_SECONDS,
whether the signal reaches the main process only (systemd's KillMode=mixed, `kill PID`) or every
process of the cluster at once (KillMode=control-group, systemd's default; `kill -- -PGID`; Ctrl-C
in a terminal). It overrides django-q2's command of the same name (postflow precedes django_q in
INSTALLED_APPS).

django-q2 1.11 hangs when every process gets the signal. Its sentinel resets SIGTERM to the default
action, so it dies at once, often inside `stop_event.wait()`. The main process's handler then calls
`stop_event.set()`, whose `notify_all()` waits for that dead sleeper to wake up: a futex wait until
SIGKILL. Its workers die the same way, in the middle of a task, so an upload keeps its lease until
the lease runs out. And when only the main process gets the signal, the workers finish their task
before they stop, which for an upload may take an hour.

Here:
- The main process's handler only notes the signal. The main thread then sets the stop event from
  a helper thread, and waits for the sentinel at most Q_STOP_SECONDS before it kills what is left.
- The sentinel, and the pusher and monitor it forks, ignore SIGTERM and SIGINT: the main process
  conducts the stop, in django-q2's order (pusher, workers, monitor). None of them dies holding a
  queue's lock.
- The sentinel also stops once the main process is gone (SIGKILL): it no longer dies of SIGTERM.
- The sentinel's stop sends SIGTERM to every worker. A worker's handler sets postflow.lib.shutdown.
  A running upload then stops at its next block. It keeps the parts already sent and gives its
  lease back, as on a lost lease. The worker then takes its STOP pill and exits.
"""

import contextlib
import logging
import os
import signal
import threading
import time
import uuid
from multiprocessing import Event, current_process

import psutil
from django.conf import settings
from django.core.management.base import CommandError
from django_q.cluster import Cluster, Sentinel, get_mp_context
from django_q.conf import setproctitle
from django_q.management.commands import qcluster
from django_q.signals import post_spawn

from postflow.lib import shutdown
from postflow.lib.serves_no_urls import ServesNoUrls

logger = logging.getLogger("django-q")

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class Command(ServesNoUrls, qcluster.Command):
    help = "Starts a django-q2 cluster that SIGTERM or Ctrl-C stops within Q_STOP_SECONDS (postflow)."

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018 - as django-q2's command: signing needs it, fail before forking
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        post_spawn.connect(_worker_spawned, dispatch_uid="postflow.qcluster.worker_spawned")
        cluster = StoppingCluster()
        cluster.start()
        if not options.get("run_once"):
            cluster.wait_for_stop_signal()
        if not cluster.stop() and cluster.signalled is None:
            raise CommandError(f"the sentinel exited ({cluster.sentinel.exitcode})")  # systemd restarts the unit


class StoppingCluster(Cluster):
    """The main process: it starts the sentinel, waits for a stop signal, then stops the cluster."""

    def __init__(self) -> None:
        super().__init__()  # installs Cluster.sig_handler, which stops from the handler itself: replaced
        self.signalled: int | None = None
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._note_signal)

    def _note_signal(self, signum: int, _frame: object) -> None:
        self.signalled = signum  # only a flag: a handler must not take a lock (postflow.lib.shutdown)

    def start(self) -> int:
        if setproctitle:
            setproctitle.setproctitle(f"qcluster {current_process().name} {self.name}")
        self.stop_event, self.start_event = Event(), Event()
        # The sentinel is forked with the stop signals blocked, and ignores them before it unblocks
        # them: a signal that comes at once is never handled there by this process's handler.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self.sentinel = get_mp_context().Process(
                target=_run_sentinel,
                name=f"Process-{uuid.uuid4().hex}",
                args=(self.stop_event, self.start_event, self.cluster_id, self.broker, self.timeout),
            )
            self.sentinel.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        logger.info("Q Cluster %s starting.", self.name)
        while self.signalled is None and not self.start_event.is_set():
            if not self.sentinel.is_alive():
                raise RuntimeError(f"Q Cluster {self.name} failed to start: sentinel exited {self.sentinel.exitcode}")
            time.sleep(0.1)
        return self.pid

    def wait_for_stop_signal(self) -> None:
        while self.signalled is None and self.sentinel.is_alive():
            time.sleep(0.2)
        if self.signalled is not None:
            logger.info("Q Cluster %s got %s", self.name, signal.Signals(self.signalled).name)

    def stop(self) -> bool:
        """True once the cluster has stopped; False if its sentinel had already exited."""
        if not self.sentinel.is_alive():
            logger.error("Q Cluster %s: its sentinel exited (%s)", self.name, self.sentinel.exitcode)
            _kill_descendants()  # workers it left behind, if any are still ours
            return False
        logger.info("Q Cluster %s stopping.", self.name)
        # Set from a thread: should the sentinel have been killed inside stop_event.wait(), set()
        # would wait for it forever; the deadline below still holds.
        threading.Thread(target=self.stop_event.set, name="stop-event", daemon=True).start()
        self.sentinel.join(settings.Q_STOP_SECONDS)
        if self.sentinel.is_alive():
            killed = _kill_descendants()
            logger.error(
                "Q Cluster %s did not stop within %g s (Q_STOP_SECONDS): %s process(es) killed",
                self.name,
                settings.Q_STOP_SECONDS,
                killed,
            )
            self.sentinel.join(5)
        else:
            logger.info("Q Cluster %s has stopped.", self.name)
        self.start_event = self.stop_event = None
        return True


class StoppingSentinel(Sentinel):
    def stop(self) -> None:
        """django-q2's stop, after a SIGTERM to each worker: its running task stops early (an upload
        keeps its parts and gives its lease back) instead of running to its end first."""
        for process in self.pool:
            if process.is_alive():  # not reaped yet, so the pid is still this worker's
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        super().stop()


def _ignore(_signum: int, _frame: object) -> None:
    """The sentinel's, pusher's and monitor's handler: the main process conducts the stop. A handler
    rather than SIG_IGN, which a program that a task runs would inherit."""


class _StopOrOrphaned:
    """The sentinel's stop event, which also counts as set once the main process is gone (killed
    with SIGKILL, as the OOM killer does): the sentinel, which ignores SIGTERM, then stops the
    cluster by itself at its next guard cycle instead of running on, orphaned."""

    def __init__(self, event, parent_pid: int) -> None:
        self._event, self._parent_pid = event, parent_pid

    def is_set(self) -> bool:
        return os.getppid() != self._parent_pid or self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.is_set() or self._event.wait(timeout)


def _run_sentinel(stop_event, start_event, cluster_id, broker, timeout) -> None:
    """The sentinel process. It starts with the stop signals blocked (StoppingCluster.start)."""
    sentinel = StoppingSentinel(stop_event, start_event, cluster_id, broker, timeout, start=False)
    sentinel.stop_event = _StopOrOrphaned(stop_event, os.getppid())
    for signum in STOP_SIGNALS:  # Sentinel.__init__ set SIGTERM to its default action (death)
        signal.signal(signum, _ignore)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    sentinel.start()


def _worker_spawned(sender=None, proc_name: str = "", **kwargs) -> None:
    """django-q2's post_spawn, sent in each new worker: SIGTERM asks its running task to stop."""
    signal.signal(signal.SIGTERM, shutdown.request)


def _kill_descendants() -> int:
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(children, timeout=5)
    return len(children)
