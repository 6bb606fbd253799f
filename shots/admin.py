"""Admin for producers fixing data: projects, scenes, source files, shots and their history.

A shot's `status` is never a form field. It changes through the actions "Move to…" (legal
moves only, `shot_transition`) and "Force status…" (any status with a reason,
`shot_force_status`, permission `shots.force_status`), which write the audit events.
"""

from collections.abc import Callable, Sequence

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Field, Q, QuerySet
from django.forms import Field as FormField
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.http import content_disposition_header

from shots.exports import ExportFormat, export_shots, safe_code, zip_archive
from shots.forms import ForceStatusForm, MoveToForm, ShotAdminForm
from shots.models import Project, Scene, Shot, ShotEvent, SourceFile
from shots.selectors import with_shares_source
from shots.services import ShotStatusError, shot_force_status, shot_transition
from shots.workflow import ALLOWED, ORDER, STAGE_STATUSES, Stage, Status

# Beyond this many, skipped shots are summed up in one message instead of one each.
MAX_SKIP_MESSAGES = 20
# The confirmation pages list this many shots by name, then "and N more".
MAX_LISTED_SHOTS = 50


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "fps", "created_at")
    search_fields = ("code", "name")

    def formfield_for_dbfield(self, db_field: Field, request: HttpRequest, **kwargs) -> FormField | None:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "folder_template":
            # An empty field means the setting's template: show which one.
            formfield.widget.attrs.update(placeholder=settings.POSTFLOW_SHOT_TREE_TEMPLATE, size=100)
        return formfield


@admin.register(Scene)
class SceneAdmin(admin.ModelAdmin):
    list_display = ("number", "name", "project", "shot_count")
    list_display_links = ("number", "name")
    list_filter = ("project",)
    list_select_related = ("project",)
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Scene]:
        return super().get_queryset(request).annotate(shot_count=Count("shots", filter=Q(shots__omitted=False)))

    @admin.display(description="Shots in the cut", ordering="shot_count")
    def shot_count(self, obj: Scene) -> int:
        return obj.shot_count


@admin.register(SourceFile)
class SourceFileAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "shot_count")
    list_filter = ("project",)
    list_select_related = ("project",)
    search_fields = ("name",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[SourceFile]:
        return super().get_queryset(request).annotate(shot_count=Count("shots", filter=Q(shots__omitted=False)))

    @admin.display(description="Shots in the cut", ordering="shot_count")
    def shot_count(self, obj: SourceFile) -> int:
        return obj.shot_count


class ShotEventInline(admin.TabularInline):
    """The shot's history, newest first. Read-only: events are written by the services only."""

    model = ShotEvent
    fields = ("created_at", "kind", "from_status", "to_status", "actor", "reason")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: Shot | None = None) -> bool:
        # Whoever may see the shot sees its history, without a separate ShotEvent permission.
        return request.user.has_perm("shots.view_shot") or request.user.has_perm("shots.change_shot")

    def has_add_permission(self, request: HttpRequest, obj: Shot | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Shot | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Shot | None = None) -> bool:
        return False


class _YesNoFilter(admin.SimpleListFilter):
    """A yes/no filter; subclasses give the `Q` that means yes."""

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> Sequence[tuple[str, str]]:
        return (("yes", "Yes"), ("no", "No"))

    def condition(self) -> Q:
        raise NotImplementedError

    def queryset(self, request: HttpRequest, queryset: QuerySet[Shot]) -> QuerySet[Shot]:
        if self.value() == "yes":
            return queryset.filter(self.condition())
        if self.value() == "no":
            return queryset.exclude(self.condition())
        return queryset


class MissingNomenclatureFilter(_YesNoFilter):
    title = "missing nomenclature"
    parameter_name = "missing_nomenclature"

    def condition(self) -> Q:
        return Q(nomenclature="")


class SharesSourceFilter(_YesNoFilter):
    """Shots whose source file another shot in the cut also uses (the `shares_source` annotation)."""

    title = "shares a source"
    parameter_name = "shares_source"

    def condition(self) -> Q:
        return Q(shares_source=True)


class StageFilter(admin.SimpleListFilter):
    """The stage is derived from the status, so filter on the statuses of the stage."""

    title = "stage"
    parameter_name = "stage"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> Sequence[tuple[str, str]]:
        return Stage.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Shot]) -> QuerySet[Shot]:
        if self.value() is None:
            return queryset
        try:
            stage = Stage(self.value())
        except ValueError:
            raise IncorrectLookupParameters(f"unknown stage {self.value()!r}") from None
        return queryset.filter(status__in=STAGE_STATUSES[stage])


def _legal_targets(shots: QuerySet[Shot]) -> dict[str, int]:
    """Every status at least one of `shots` may move to, in pipeline order, with how many may."""
    per_status = dict(shots.order_by().values_list("status").annotate(n=Count("pk")))
    counts = {target: 0 for target in ORDER}
    for status, n in per_status.items():
        for target in ALLOWED[Status(status)]:
            counts[target] += n
    return {target.value: n for target, n in counts.items() if n}


def _export_action(fmt: ExportFormat, description: str) -> Callable[..., HttpResponse | None]:
    @admin.action(description=description, permissions=["view"])
    def action(modeladmin: "ShotAdmin", request: HttpRequest, queryset: QuerySet[Shot]) -> HttpResponse | None:
        return modeladmin.export_response(request, queryset, fmt)

    action.__name__ = f"export_{fmt.value.replace('-', '_')}"
    return action


@admin.register(Shot)
class ShotAdmin(admin.ModelAdmin):
    form = ShotAdminForm
    list_display = (
        "label",
        "shot_number",
        "scene",
        "status",
        "stage",
        "tc_in",
        "tc_out",
        "shares_source",
        "omitted",
    )
    list_filter = (
        "scene",
        "status",
        StageFilter,
        MissingNomenclatureFilter,
        SharesSourceFilter,
        "omitted",
    )
    # project: the timecode columns need its fps; scene: its column. One JOINed query per page.
    list_select_related = ("project", "scene")
    search_fields = ("nomenclature", "shot_number", "source_file__name", "notes")
    autocomplete_fields = ("scene", "source_file")
    readonly_fields = ("project", "status", "stage", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("project", "shot_number", "nomenclature", "scene", "source_file", "status", "stage")}),
        ("Timecodes", {"fields": ("source_in", "source_out", "timeline_in", "timeline_out", "duration")}),
        (None, {"fields": ("notes", "omitted", "created_at", "updated_at")}),
    )
    # Apps above shots add their own inlines in their admin module (frameio's review notes).
    inlines = (ShotEventInline,)
    actions = (
        "move_to",
        "force_status",
        _export_action(ExportFormat.AE_JSON, "Export: After Effects JSON"),
        _export_action(ExportFormat.PRODUCTION_CSV, "Export: production CSV"),
        _export_action(ExportFormat.FLAT_CSV, "Export: flat CSV (every field)"),
        _export_action(ExportFormat.DETAILED_JSON, "Export: detailed JSON (with history)"),
        _export_action(ExportFormat.SCENE_JSON, "Export: one JSON per scene (zip)"),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Shot]:
        return with_shares_source(super().get_queryset(request))

    # Shots come from the shot-list import (their identity is the sheet's shot number) and are
    # never deleted (a vanished shot is flagged omitted, its history kept).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Shot | None = None) -> bool:
        return False

    def has_force_status_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("shots.force_status")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # Django drops an action the user may not run and answers "no action selected"; a forged
        # force request deserves a plain refusal instead.
        if (
            request.method == "POST"
            and "force_status" in request.POST.getlist("action")
            and not self.has_force_status_permission(request)
        ):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_force_status": self.has_force_status_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- columns --------------------------------------------------------------------

    @admin.display(description="Nomenclature", ordering="nomenclature")
    def label(self, obj: Shot) -> str:
        return obj.nomenclature or "(missing)"

    @admin.display(description="Stage")
    def stage(self, obj: Shot) -> str:
        return obj.stage.label

    @admin.display(description="TC in", ordering="timeline_in")
    def tc_in(self, obj: Shot) -> str:
        return obj.timecode("timeline_in")

    @admin.display(description="TC out", ordering="timeline_out")
    def tc_out(self, obj: Shot) -> str:
        return obj.timecode("timeline_out")

    @admin.display(description="Shares source", boolean=True, ordering="shares_source")
    def shares_source(self, obj: Shot) -> bool:
        return obj.shares_source

    # --- status actions ---------------------------------------------------------------

    @admin.action(description="Move to…", permissions=["change"])
    def move_to(self, request: HttpRequest, queryset: QuerySet[Shot]) -> HttpResponse | None:
        targets = _legal_targets(queryset)
        if not targets:
            self.message_user(request, "None of the selected shots has a legal move.", messages.WARNING)
            return None
        shots = list(queryset)
        form = MoveToForm(request.POST if "apply" in request.POST else None, targets=targets, selected=len(shots))
        if not form.is_valid():
            return self._confirmation(request, "move_to", form, shots, title="Move shots to another status")
        target = form.cleaned_data["to_status"]
        actor = self._actor(request)

        def move(shot: Shot) -> None:
            shot_transition(shot_id=shot.pk, to_status=target, actor=actor)

        self._apply(request, shots, move, done=f"moved to {Status(target).label}")
        return None

    @admin.action(description="Force status…", permissions=["force_status"])
    def force_status(self, request: HttpRequest, queryset: QuerySet[Shot]) -> HttpResponse | None:
        if not self.has_force_status_permission(request):
            raise PermissionDenied
        shots = list(queryset)
        form = ForceStatusForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._confirmation(request, "force_status", form, shots, title="Force the status of shots")
        target, reason = form.cleaned_data["to_status"], form.cleaned_data["reason"]
        actor = self._actor(request)

        def force(shot: Shot) -> None:
            shot_force_status(shot_id=shot.pk, to_status=target, actor=actor, reason=reason)

        self._apply(request, shots, force, done=f"forced to {Status(target).label}")
        return None

    def _actor(self, request: HttpRequest) -> str:
        return f"user:{request.user.get_username()}"

    def _apply(self, request: HttpRequest, shots: list[Shot], change: Callable[[Shot], None], done: str) -> None:
        """Run `change` on each shot in its own transaction; report the ones the service refused."""
        changed, refusals = 0, []
        for shot in shots:
            try:
                change(shot)
            except (ShotStatusError, Shot.DoesNotExist) as exc:
                refusals.append(str(exc))
            else:
                changed += 1
        if changed:
            self.message_user(request, f"{changed} shot{'s' if changed != 1 else ''} {done}.", messages.SUCCESS)
        for refusal in refusals[:MAX_SKIP_MESSAGES]:
            self.message_user(request, f"Skipped {refusal}", messages.WARNING)
        if len(refusals) > MAX_SKIP_MESSAGES:
            self.message_user(request, f"… and {len(refusals) - MAX_SKIP_MESSAGES} more skipped.", messages.WARNING)

    def _confirmation(
        self, request: HttpRequest, action: str, form: Form, shots: list[Shot], title: str
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "selected_ids": [shot.pk for shot in shots],
            "listed_shots": shots[:MAX_LISTED_SHOTS],
            "unlisted_count": max(0, len(shots) - MAX_LISTED_SHOTS),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, f"admin/shots/shot/{action}.html", context)

    # --- exports ----------------------------------------------------------------------

    def export_response(self, request: HttpRequest, queryset: QuerySet[Shot], fmt: ExportFormat) -> HttpResponse | None:
        """The selected shots (omitted ones included: the selection is explicit) as a download."""
        project_ids = set(queryset.order_by().values_list("project_id", flat=True).distinct())
        if len(project_ids) != 1:
            self.message_user(request, "Export shots of one project at a time.", messages.ERROR)
            return None
        project = Project.objects.get(pk=project_ids.pop())
        # A fresh queryset: the exports add their own annotations and ordering.
        files = export_shots(project, Shot.objects.filter(pk__in=queryset.values("pk")), fmt)
        if fmt.is_multi_file:
            name, content, content_type = f"{safe_code(project)}_scenes.zip", zip_archive(files), "application/zip"
        else:
            name, content, content_type = files[0].name, files[0].content, files[0].content_type
        return HttpResponse(
            content,
            content_type=content_type,
            headers={"Content-Disposition": content_disposition_header(as_attachment=True, filename=name)},
        )
