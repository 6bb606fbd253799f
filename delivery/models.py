"""Deliveries: an approved version's original render copied to the delivery folder, verified, and sealed
with an ASC MHL manifest. Written by `delivery.services` only."""

from django.db import models
from django.db.models import Q

from ingest.models import Render
from shots.models import Shot


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"  # approved; the render and its checksum recorded, not copied yet
    COPYING = "copying", "Copying"  # a run holds it (and its folder's lock)
    DELIVERED = "delivered", "Delivered"  # every file copied, re-read, matched; manifest written
    FAILED = "failed", "Failed"  # `error` says which file and why; the next run tries again
    CANCELLED = "cancelled", "Cancelled"  # the shot was sent back before it was delivered


class Delivery(models.Model):
    """One approved version of a shot on its way to (or in) the delivery folder.

    Made when the shot reaches review_approved (the render approved and its checksum at that moment, so that
    a render changed since is refused), delivered by `manage.py deliver` or the auto-delivery job. A later
    delivery of the same shot supersedes a delivered one (`superseded_by`); the old files stay where they are.
    """

    State = DeliveryState
    # A run may take these (a copying one was interrupted: the folder's lock tells a live run from a dead one).
    OPEN = [DeliveryState.PENDING, DeliveryState.COPYING, DeliveryState.FAILED]

    shot = models.ForeignKey(Shot, on_delete=models.PROTECT, related_name="deliveries")
    render = models.ForeignKey(Render, on_delete=models.PROTECT, related_name="deliveries")
    version = models.PositiveIntegerField()
    approved_checksum = models.CharField(
        max_length=32, help_text="The render's xxh3-128 when it was approved (a sequence's: over its frames)."
    )
    approved_at = models.DateTimeField()
    approved_by = models.CharField(max_length=150, blank=True, help_text="Who moved the shot to review_approved.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, db_index=True)
    folder = models.CharField(max_length=1000, blank=True, help_text="The delivered folder, under the delivery root.")
    root = models.CharField(max_length=500, blank=True, help_text="POSTFLOW_DELIVERY_PATH when it was delivered.")
    manifest = models.CharField(max_length=1000, blank=True, help_text="The ASC MHL generation written for it.")
    files = models.PositiveIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    batch = models.CharField(max_length=32, blank=True, db_index=True, help_text="The run that delivered it.")
    superseded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="supersedes"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            # One delivery on its way per shot: a new approval cancels the open one first.
            models.UniqueConstraint(
                fields=["shot"],
                condition=Q(state__in=["pending", "copying", "failed"]),
                name="delivery_one_open_per_shot",
            )
        ]

    def __str__(self) -> str:
        return f"{self.shot} v{self.version:03d} ({self.state})"


class DeliveredFile(models.Model):
    """One file a delivery put in place: where it came from, where it is, its size and xxh3-128 (the same
    hash its manifest records)."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="delivered_files")
    source = models.CharField(max_length=1000, help_text="The render's file, relative to its watch root.")
    path = models.CharField(max_length=1000, help_text="Relative to the delivered folder.")
    frame = models.IntegerField(null=True, blank=True)
    size = models.BigIntegerField()
    checksum = models.CharField(max_length=32, help_text="xxh3-128, hex.")

    class Meta:
        ordering = ["delivery", "frame", "path"]
        constraints = [models.UniqueConstraint(fields=["delivery", "path"], name="delivered_file_unique_path")]

    def __str__(self) -> str:
        return self.path
