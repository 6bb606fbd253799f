"""`manage.py review_proxy (RENDER_ID ... | --pending)`: build review proxies now, in this process."""

from django.core.management.base import BaseCommand, CommandError

from ingest.models import ReviewProxy
from ingest.proxies import proxy_build


class Command(BaseCommand):
    help = (
        "Build the review proxy of these renders (ids, as the admin lists them), or of every pending one, in "
        "this process instead of the worker's job: the same claim, so a proxy a worker is encoding is left "
        "to it. A built proxy queues its render for review (the upload job follows)."
    )

    def add_arguments(self, parser):
        parser.add_argument("render_ids", nargs="*", type=int, metavar="RENDER_ID")
        parser.add_argument("--pending", action="store_true", help="every proxy waiting for a worker")

    def handle(self, *args, render_ids: list[int], pending: bool, **options):
        proxies = ReviewProxy.objects.all()
        if pending:
            render_ids += proxies.filter(state=ReviewProxy.State.PENDING).values_list("render_id", flat=True)
        if not render_ids:
            raise CommandError("name the renders (their ids), or pass --pending")
        unknown = set(render_ids) - set(proxies.filter(render_id__in=render_ids).values_list("render_id", flat=True))
        if unknown:
            raise CommandError(f"no review proxy was asked for render(s) {', '.join(map(str, sorted(unknown)))}")
        failed = 0
        for render_id in dict.fromkeys(render_ids):
            proxy = proxy_build(render_id=render_id)
            failed += proxy.state != ReviewProxy.State.READY
            self.stdout.write(f"render {render_id}: {_outcome(proxy)}")
        if failed:
            raise CommandError(f"{failed} proxy(ies) not ready, listed above")


def _outcome(proxy: ReviewProxy) -> str:
    if proxy.state == ReviewProxy.State.READY:
        return f"ready: {proxy.frames} frames in {proxy.encode_seconds:.1f} s, {proxy.path}"
    state = proxy.get_state_display().lower()
    return f"{state}: {proxy.last_error}" if proxy.last_error else state
