"""`manage.py thumbnails [RENDER_ID ...] [--force] [--json]`: poster frames for renders verified before them."""

import json

from django.core.management.base import BaseCommand

from ingest.thumbnails import thumbnails_backfill


class Command(BaseCommand):
    help = (
        "Write the missing poster frames (the middle frame, a small WebP under POSTFLOW_THUMBNAILS_PATH) of every "
        "render that holds a version, or of the renders named. The watcher writes them for new renders; the "
        "dashboard asks a worker for one it misses. A render that gives no frame is counted as failed, the others "
        "go on."
    )

    def add_arguments(self, parser):
        parser.add_argument("render_ids", nargs="*", type=int, help="only these renders (ids)")
        parser.add_argument("--force", action="store_true", help="write them again even where one exists")
        parser.add_argument("--json", action="store_true", help='print {"written", "present", "failed"}')

    def handle(self, *args, render_ids, force, json: bool, **options):
        counts = thumbnails_backfill(render_ids=render_ids or None, force=force)
        if json:
            self.stdout.write(_dumps(counts))
        else:
            self.stdout.write(
                f"{counts['written']} written, {counts['present']} already there, {counts['failed']} failed"
            )
        if counts["failed"]:
            raise SystemExit(1)


def _dumps(counts: dict) -> str:
    return json.dumps(counts)
