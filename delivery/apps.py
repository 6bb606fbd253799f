from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        from delivery import hooks
        from shots.signals import status_changed

        # Approvals recorded with the move, and the auto-delivery job (shots knows nothing of delivery).
        status_changed.connect(hooks.shot_status_changed, dispatch_uid="delivery.shot_status_changed")
        # The system check of POSTFLOW_DELIVERY_TEMPLATE (delivery/checks.py), registered on import.
        from delivery import checks  # noqa: F401
