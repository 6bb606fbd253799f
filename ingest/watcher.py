"""The watch loop: scan, update the ledger, settle, verify, beat. One `Watcher` per root.

Kept apart from the management command so tests drive `tick()` directly with a fake clock.
"""

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime

from django.db import close_old_connections
from django.utils import timezone

from ingest import signals as ingest_signals
from ingest.evidence import evidence_observe
from ingest.lucid import Pinner
from ingest.models import Render, WatcherHeartbeat
from ingest.scanner import RootUnavailable, ScanResult, TreeScanner, printable
from ingest.sequences import SequenceIndex
from ingest.services import (
    PATH_MAX_CHARS,
    SIDECAR_SUFFIX,
    TEMP_SUFFIXES,
    WatchConfig,
    render_mark_missing,
    render_observe,
    render_revive,
    render_settle,
    render_verify,
)
from ingest.thumbnails import thumbnail_after_verify

logger = logging.getLogger(__name__)


class CompletionTracker:
    """Remembers temp files and sidecars across scans, to spot a writer saying "finished".

    `name.mov.tmp -> name.mov` keeps the inode: an appeared render whose inode belonged to a
    temp file that is now gone was renamed into place. `name.mov.done` (or `name.done`)
    beside a render is a sidecar.
    """

    def __init__(self, config: WatchConfig) -> None:
        self.config = config
        self.temp_inodes: dict[str, int] = {}
        self.sidecars: set[str] = set()
        self.renders: set[str] = set()

    def signals(self, result: ScanResult) -> dict[str, str]:
        renamed_inodes = {self.temp_inodes.pop(path) for path in result.gone if path in self.temp_inodes}
        self.sidecars -= result.gone
        self.renders -= result.gone
        signals: dict[str, str] = {}
        fresh: set[str] = set()  # sidecars and renders new in this scan: only they can pair up anew
        for path, stat in {**result.appeared, **result.changed}.items():
            lower = path.lower()
            if lower.endswith(TEMP_SUFFIXES):
                self.temp_inodes[path] = stat.inode
            elif lower.endswith(SIDECAR_SUFFIX):
                self.sidecars.add(path)
                fresh.add(path)
            elif self.config.is_render(path):
                self.renders.add(path)
                fresh.add(path)
                if stat.inode in renamed_inodes:
                    signals[path] = "rename"
        for sidecar in self.sidecars:
            stem = sidecar[: -len(SIDECAR_SUFFIX)]
            for candidate in (stem, *(f"{stem}.{ext}" for ext in self.config.extensions)):
                if candidate in self.renders and (sidecar in fresh or candidate in fresh):
                    signals.setdefault(candidate, "sidecar")
        return signals


class Watcher:
    def __init__(
        self,
        config: WatchConfig,
        *,
        clock: Callable[[], datetime] = timezone.now,
        full_scan_seconds: float = 300.0,
        pinner: Pinner | None = None,
        name: str | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.full_scan_seconds = full_scan_seconds
        self.pinner = pinner or Pinner("")
        self.name = name or f"watch@{socket.gethostname()}:{config.root}"
        # A path longer than the ledger holds is rejected (and quarantined) by the scan itself: a directory
        # that deep is not entered, as nothing under it could be recorded.
        self.scanner = TreeScanner(config.root, accept=self._tracks, max_path=PATH_MAX_CHARS)
        # Between the scanner and the ledger: numbered frames folded into one entry per image sequence.
        self.sequences = SequenceIndex(config.sequence_extensions)
        self.completion = CompletionTracker(config)
        self.last_full: datetime | None = None
        self.healthy: bool | None = None
        # A FUSE mount that goes away cleanly leaves an empty folder behind: a root that was a
        # mount point and no longer is must read as "unavailable", not as "every file deleted".
        self.was_mount = os.path.ismount(config.root)

    def _tracks(self, name: str) -> bool:
        """The scanner's filter, read through the current config (the projects' evidence rules change)."""
        return self.config.tracks(name)

    def tick(self, *, full: bool = False) -> ScanResult | None:
        """One scan and everything that follows from it. Never raises for a file or the mount."""
        now = self.clock()
        full = full or self.last_full is None or (now - self.last_full).total_seconds() >= self.full_scan_seconds
        started = time.monotonic()
        if full:  # the projects' evidence rules as the admin has them now; new names are found by this full scan
            self.config = self.completion.config = self.config.with_project_evidence()
        watch = self._watched()
        if self.was_mount and not os.path.ismount(self.config.root):
            self._beat(healthy=False, detail=f"watch root {self.config.root} is no longer mounted", started=started)
            return None
        try:
            result = self.scanner.scan(full=full, watch=watch)
        except RootUnavailable as exc:
            self._beat(healthy=False, detail=str(exc), started=started)
            return None
        try:
            result = self.sequences.fold(result)
            render_observe(config=self.config, result=result, signals=self.completion.signals(result), now=now)
            evidence_observe(config=self.config, result=result)
            if result.full:
                present = self.sequences.present(self.scanner.known())
                render_revive(config=self.config, present=present, now=now)
                render_mark_missing(config=self.config, present=present, unscanned=list(result.errors), now=now)
            render_settle(config=self.config, now=now)
            self._pin_new_folders(result)
            self._verify_stable(now)
            # An entry skipped for an error may have any name: shown escaped, as the ledger stores it.
            detail = "; ".join(f"{printable(path) or '.'}: {error}" for path, error in list(result.errors.items())[:5])
            self._beat(healthy=True, detail=detail, started=started)
        except Exception:
            # The scanner already took this scan's differences into its view: without the undo they would
            # never be reported again (a new file never recorded). The next scan is a full one, against the
            # last view the ledger caught up with; render_observe repeats nothing for unchanged rows.
            self.scanner.undo_last_scan()
            self.sequences.rebuild(self.scanner.known())  # the index follows the view it was folded from
            self.last_full = None
            raise
        if result.full:
            self.last_full = now
        ingest_signals.watcher_scanned.send(
            sender=Watcher,
            watcher=self.name,
            ms=(time.monotonic() - started) * 1000,
            files=result.files_statted,
            full=result.full,
        )
        return result

    def _watched(self) -> list[str]:
        """The files still settling, to re-stat even if their directory did not move: each discovered movie,
        and the recent frames of each discovered sequence (a key names no file; the scanner ignores it)."""
        paths = list(
            Render.objects.filter(root=self.config.root_key, state=Render.State.DISCOVERED).values_list(
                "path", flat=True
            )
        )
        window_ns = int(self.config.settle_seconds * 1_000_000_000)
        return paths + self.sequences.watch(paths, window_ns)

    def _verify_stable(self, now: datetime) -> None:
        stable = Render.objects.filter(root=self.config.root_key, state=Render.State.STABLE).values_list(
            "pk", flat=True
        )
        for render_id in list(stable):
            try:
                render_verify(render_id=render_id, config=self.config, now=now)
            except Exception:  # one bad file must never stop the loop
                logger.exception("verifying render %s failed; it stays stable and is tried again", render_id)
                continue
            thumbnail_after_verify(render_id)  # a poster frame for the dashboard; its failure is only logged

    def _pin_new_folders(self, result: ScanResult) -> None:
        if not self.pinner.enabled:
            return
        for folder in {path.rpartition("/")[0] for path in result.appeared if self.config.is_render(path)}:
            self.pinner.pin(self.config.root / folder)

    def _beat(self, *, healthy: bool, detail: str, started: float) -> None:
        if healthy != self.healthy:
            log = logger.info if healthy else logger.error
            log(
                "watch root %s is %s%s",
                self.config.root,
                "healthy" if healthy else "unavailable",
                f": {detail}" * bool(detail),
            )
            self.healthy = healthy
        WatcherHeartbeat.objects.update_or_create(
            name=self.name,
            defaults={
                "beat_at": timezone.now(),
                "healthy": healthy,
                "detail": detail[:2000],
                "last_scan_ms": int((time.monotonic() - started) * 1000),
                "files_known": len(self.scanner.known()),
                "pid": os.getpid(),
                "host": socket.gethostname(),
            },
        )


def run_forever(watchers: list[Watcher], *, interval: float, stop: threading.Event, wake: threading.Event) -> None:
    """Tick every watcher, then wait `interval` (or until woken); until `stop` is set."""
    while not stop.is_set():
        for watcher in watchers:
            try:
                watcher.tick()
            except Exception:  # the database went away, a bug: log, keep the process alive
                logger.exception("watch tick for %s failed; retrying after the interval", watcher.config.root)
            finally:
                close_old_connections()
        wake.wait(interval)
        wake.clear()
