"""`manage.py watch [--oneshot] [--json] [--root PATH]`: the render watcher (a long-running process)."""

import json
import logging
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ingest.lucid import Pinner
from ingest.models import Render
from ingest.services import WatchConfig, stored_path
from ingest.settling import settle_wait
from ingest.sources import RushesConfig, RushesWatcher
from ingest.watcher import Watcher, run_forever
from postflow.lib.serves_no_urls import ServesNoUrls

logger = logging.getLogger(__name__)


class Command(ServesNoUrls, BaseCommand):
    help = (
        "Watch the render roots (LUCIDLINK_MOUNT_PATH): notice finished renders, verify them, tie them to "
        "shots and versions, quarantine the rest, and queue the good ones for Frame.io. Check the shots' "
        "sources (verify_sources) when rushes arrive or change under POSTFLOW_RUSHES_PATH."
    )

    def add_arguments(self, parser):
        parser.add_argument("--root", action="append", type=Path, help="a root to watch (repeatable)")
        parser.add_argument("--oneshot", action="store_true", help="one full scan, then exit")
        parser.add_argument("--json", action="store_true", help="with --oneshot: one JSON object per file seen")

    def handle(self, *args, root: list[Path] | None, oneshot: bool, json: bool, **options):
        if json and not oneshot:
            raise CommandError("--json goes with --oneshot")
        roots = root or [_default_root()]
        pinner = Pinner(settings.POSTFLOW_LUCID_BIN)
        watchers = [
            Watcher(
                WatchConfig.from_settings(path), full_scan_seconds=settings.POSTFLOW_FULL_SCAN_SECONDS, pinner=pinner
            )
            for path in roots
        ]
        if oneshot:
            for watcher in watchers:
                result = watcher.tick(full=True)
                if result is None:
                    raise CommandError(f"watch root {watcher.config.root} is unavailable (see the log above)")
                # The paths as the ledger stores them: a rejected name is stored escaped, a sequence by its pattern.
                present = watcher.sequences.present(watcher.scanner.known())
                seen = {stored_path(path) for path in [*present, *result.rejected]}
                self._report(watcher, seen, as_json=json)
            return
        self._run(watchers, RushesWatcher(RushesConfig.from_settings()))

    def _run(self, watchers: list[Watcher], rushes: RushesWatcher) -> None:
        stop, wake = threading.Event(), threading.Event()

        def on_signal(signum, _frame):
            logger.info("signal %s: stopping after the current step", signal.Signals(signum).name)
            stop.set()
            wake.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        observer = _inotify(watchers, wake) if settings.POSTFLOW_INOTIFY else None
        roots = ", ".join(str(w.config.root) for w in watchers)
        every, settle = settings.POSTFLOW_SCAN_INTERVAL_SECONDS, settings.POSTFLOW_SETTLE_SECONDS
        full = settings.POSTFLOW_FULL_SCAN_SECONDS
        self.stdout.write(f"watching {roots} every {every:g} s (settle {settle:g} s, full scan every {full:g} s)")
        self.stdout.write(f"checking the shots' sources when rushes arrive or change under {rushes.config.root}")
        try:
            # The rushes watcher ticks in the same loop, after the render roots: it has their tick() and config.root.
            run_forever([*watchers, rushes], interval=settings.POSTFLOW_SCAN_INTERVAL_SECONDS, stop=stop, wake=wake)
        finally:
            if observer is not None:
                observer.stop()
        self.stdout.write("watcher stopped")

    def _report(self, watcher: Watcher, paths: set[str], *, as_json: bool) -> None:
        renders = Render.objects.filter(root=watcher.config.root_key).select_related("shot").order_by("path")
        seen = [render for render in renders if render.path in paths]
        now = timezone.now()
        for render in seen:
            wait = settle_wait(render, now=now, settle_seconds=watcher.config.settle_seconds)
            row = {
                "path": render.path,
                "state": render.state,
                "shot": render.shot.nomenclature if render.shot else None,
                "version": render.version,
                "reason": render.reason,
                "waiting": wait.text if wait else None,
                "until": wait.until.isoformat() if wait and wait.until else None,
            }
            if as_json:
                self.stdout.write(json.dumps(row, ensure_ascii=False))
            else:
                where = f" → {row['shot']} v{row['version']:03d}" if row["shot"] else ""
                why = f" ({row['waiting'] or row['reason']})" if row["waiting"] or row["reason"] else ""
                self.stdout.write(f"{render.state:<12} {render.path}{where}{why}")
        if not as_json:
            self.stdout.write(f"{len(seen)} render(s) under {watcher.config.root}")


def _default_root() -> Path:
    root = Path(settings.LUCIDLINK_MOUNT_PATH)
    # The embedded default is a plain folder under var/; a configured mount is never created
    # here: a missing mount must show as an unhealthy watcher, not as an empty folder.
    if root == Path(settings.VAR_DIR) / "lucidlink":
        root.mkdir(parents=True, exist_ok=True)
        # So is its rushes folder, when it is the default one: a first `make run` says nothing of rushes missing.
        if Path(settings.POSTFLOW_RUSHES_PATH) == root / "rushes":
            (root / "rushes").mkdir(exist_ok=True)
    return root


def _inotify(watchers: list[Watcher], wake: threading.Event):
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event):
            wake.set()

    observer = Observer()
    for watcher in watchers:
        observer.schedule(Wake(), str(watcher.config.root), recursive=True)
    observer.daemon = True
    observer.start()
    return observer
