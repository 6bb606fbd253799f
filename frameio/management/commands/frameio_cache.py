"""`manage.py frameio_cache [stats|verify|clear] [--scene N] [--json]`: the Frame.io ids postflow caches
(the production's project and root folder, one folder per scene, one version stack per shot).

- stats: what is cached.
- verify: which ids Frame.io still knows (exit 1 if any is gone or cannot be checked).
- clear: forget them (one scene with --scene, else all); the next upload finds by name or makes again what
  is missing. Not needed after a deletion in Frame.io: an upload drops a stale id by itself.

Exit status: 0 fine, 1 an id is gone or could not be checked, 2 a usage error (no such scene, Frame.io not
connected)."""

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from frameio.auth import build_client, target_or_connect
from frameio.client import FrameioError
from frameio.structure import CachedId, cache_clear, cached_id_state, cached_ids
from shots.models import Scene

ACTOR = "manage.py frameio_cache"


class Command(BaseCommand):
    help = "The cached Frame.io ids: stats, verify (do they still exist in Frame.io?), clear (one scene or all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=["stats", "verify", "clear"], default="stats")
        parser.add_argument("--scene", type=int, help="only this scene (its number, e.g. 3 for SEQ03)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, action: str, scene: int | None, **options) -> None:
        scenes, as_json = _scenes(scene), options["json"]
        if action == "stats":
            self._print(as_json, {"cached": [_row(e) for e in cached_ids(scenes=scenes)]})
        elif action == "verify":
            self._verify(scenes, as_json)
        else:
            cleared = cache_clear(scenes=scenes, actor=ACTOR)
            self._print(as_json, {"cleared": [_row(e) for e in cleared]}, empty="nothing cached: nothing to clear")

    def _verify(self, scenes: list[Scene] | None, as_json: bool) -> None:
        entries = cached_ids(scenes=scenes)
        rows = []
        if entries:
            account_id = _account_id()
            client = build_client()
            rows = [{**_row(e), "state": cached_id_state(client, account_id=account_id, entry=e)} for e in entries]
        self._print(as_json, {"cached": rows})
        bad = [r for r in rows if r["state"] != "ok"]
        if bad:
            raise CommandError(
                f"{len(bad)} of {len(rows)} cached id(s) not usable; uploads drop a gone id by themselves, "
                "or run `manage.py frameio_cache clear`",
                returncode=1,
            )

    def _print(self, as_json: bool, result: dict, empty: str = "nothing cached") -> None:
        if as_json:
            self.stdout.write(json.dumps(result, indent=2))
            return
        [rows] = result.values()
        if not rows:
            self.stdout.write(empty)
        verb = "cleared " if "cleared" in result else ""
        for row in rows:
            state = f"  {row['state']}" if "state" in row else ""
            self.stdout.write(f"{verb}{row['kind']:<13} {row['owner']:<40} {row['id']}{state}")


def _account_id() -> str:
    try:
        account_id = target_or_connect().account_id
    except FrameioError as exc:
        raise CommandError(f"Frame.io is not reachable: {exc}", returncode=2) from None
    if not account_id:
        raise CommandError("Frame.io is not connected (no account chosen): /frameio/connect/", returncode=2)
    return account_id


def _scenes(number: int | None) -> list[Scene] | None:
    if number is None:
        return None
    scenes = list(Scene.objects.select_related("project").filter(number=number))
    if not scenes:
        raise CommandError(f"no scene {number}", returncode=2)
    return scenes


def _row(entry: CachedId) -> dict:
    return {"kind": entry.kind, "owner": entry.owner, "id": entry.id}
