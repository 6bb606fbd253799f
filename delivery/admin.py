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

    def get_queryset(self, request):
        # A 100,000-frame sequence would make the page unusable: the first files, in frame order.
        queryset = super().get_queryset(request)
        ids = list(queryset.order_by("frame", "path").values_list("pk", flat=True)[:FILES_SHOWN])
        return queryset.filter(pk__in=ids)


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

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
