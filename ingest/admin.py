"""Admin for the render ledger: producers see quarantined renders with the reason, and
release (verify again) or dismiss them. The ledger's state is never edited as a field."""

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from ingest.models import Render, ReviewProxy, SourceClip, WatcherHeartbeat
from ingest.services import proxy_retry, render_dismiss, render_release
from ingest.settling import settle_wait


@admin.register(Render)
class RenderAdmin(admin.ModelAdmin):
    list_display = (
        "render",
        "frames",
        "state",
        "waiting",
        "shot",
        "version",
        "size",
        "reason",
        "first_seen",
        "verified_at",
    )
    list_filter = ("state", "rule", "root")
    list_select_related = ("shot",)
    search_fields = ("path", "shot__nomenclature", "reason", "checksum")
    date_hierarchy = "first_seen"
    actions = ["release", "dismiss"]
    readonly_fields = ["waiting", *(field.name for field in Render._meta.fields)]

    @admin.display(description="render", ordering="path")
    def render(self, obj: Render) -> str:
        return obj.display_name  # a sequence as UNDLM_00042_v003.[1001-1143].exr, not its #### key

    @admin.display(description="waiting for")
    def waiting(self, obj: Render) -> str:
        """Why a render is not verified yet and, while it settles, until when (computed, never stored)."""
        wait = settle_wait(obj, now=timezone.now(), settle_seconds=settings.POSTFLOW_SETTLE_SECONDS)
        if wait is None:
            return "—"
        if wait.until is None:
            return wait.text
        return f"{wait.text} (until {timezone.localtime(wait.until):%H:%M:%S})"

    @admin.display(description="frames", ordering="frame_count")
    def frames(self, obj: Render) -> str:
        return obj.frames_label

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # only the watcher records files it has seen

    def has_delete_permission(self, request: HttpRequest, obj: Render | None = None) -> bool:
        return False  # the ledger is what prevents a second upload: never delete from it

    @admin.action(description="Release: verify again on the next scan", permissions=["change"])
    def release(self, request: HttpRequest, queryset: QuerySet[Render]) -> None:
        self._apply(request, queryset, lambda render: render_release(render_id=render.pk), "released")

    @admin.action(description="Dismiss: set aside (until the file changes)", permissions=["change"])
    def dismiss(self, request: HttpRequest, queryset: QuerySet[Render]) -> None:
        actor = f"user:{request.user.get_username()}"
        self._apply(request, queryset, lambda render: render_dismiss(render_id=render.pk, actor=actor), "dismissed")

    def _apply(self, request: HttpRequest, queryset: QuerySet[Render], action, verb: str) -> None:
        done = sum(1 for render in queryset if action(render))
        skipped = queryset.count() - done
        if done:
            self.message_user(request, f"{done} render(s) {verb}.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} render(s) skipped: only quarantined renders can be {verb}.", messages.WARNING
            )


@admin.register(WatcherHeartbeat)
class WatcherHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "healthy", "beat_at", "last_scan_ms", "files_known", "detail")
    readonly_fields = [field.name for field in WatcherHeartbeat._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(SourceClip)
class SourceClipAdmin(admin.ModelAdmin):
    """What each source file was verified as (manage.py verify_sources, the watcher); read-only."""

    list_display = ("source_file", "path", "start_timecode", "frames", "fps", "problem", "verified_at")
    list_filter = ("problem",)
    list_select_related = ("source_file",)
    search_fields = ("source_file__name", "path", "problem_detail")
    readonly_fields = [field.name for field in SourceClip._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # only the sources check records what it verified

    def has_delete_permission(self, request: HttpRequest, obj: SourceClip | None = None) -> bool:
        return False  # the reference a later change is measured against


@admin.register(ReviewProxy)
class ReviewProxyAdmin(admin.ModelAdmin):
    """The review proxies the job built (ingest.proxies); read-only, a failed one is asked for again."""

    list_display = ("render", "state", "frames_done", "frames", "width", "height", "encode_seconds", "last_error")
    list_filter = ("state",)
    list_select_related = ("render",)
    search_fields = ("render__path", "path", "last_error")
    actions = ["retry"]
    readonly_fields = [field.name for field in ReviewProxy._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # only a verification asks for a proxy

    def has_delete_permission(self, request: HttpRequest, obj: ReviewProxy | None = None) -> bool:
        return False

    @admin.action(description="Build the proxy again (failed ones)", permissions=["change"])
    def retry(self, request: HttpRequest, queryset: QuerySet[ReviewProxy]) -> None:
        retried = sum(1 for proxy in queryset if proxy_retry(render_id=proxy.render_id))
        self.message_user(request, f"{retried} proxy build(s) asked for again.", messages.SUCCESS)
        if retried < queryset.count():
            skipped = "Only failed proxies of renders still verified are built again."
            self.message_user(request, skipped, messages.WARNING)
