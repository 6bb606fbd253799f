"""Deliveries in the admin: read-only (delivery.services is their one writer; `manage.py deliver` runs them)."""

from django.contrib import admin

from delivery.models import DeliveredFile, Delivery

FILES_SHOWN = 50


class DeliveredFileInline(admin.TabularInline):
    model = DeliveredFile
    fields = ("path", "frame", "size", "checksum", "source")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("shot", "version", "state", "folder", "files", "delivered_at", "superseded_by", "approved_at")
    list_filter = ("state", "shot__project", "shot__scene")
    search_fields = ("shot__nomenclature", "shot__shot_number", "folder", "manifest", "error")
    list_select_related = ("shot", "superseded_by__shot")
    inlines = [DeliveredFileInline]
    readonly_fields = [f.name for f in Delivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, DeliveredFileInline) and obj is not None:
            # A 100,000-frame sequence would make the page unusable: this delivery's first files, in frame
            # order (the inline's own queryset is every delivery's; the formset narrows it only after a slice).
            first = obj.delivered_files.order_by("frame", "path").values_list("pk", flat=True)[:FILES_SHOWN]
            kwargs["queryset"] = DeliveredFile.objects.filter(pk__in=list(first)).order_by("frame", "path")
        return kwargs

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
