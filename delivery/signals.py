"""What the delivery app tells the apps above it (alerts connects in its AppConfig.ready()).

Sent synchronously, inside a transaction: a receiver that writes (the outbox row) commits with it.
"""

from django.dispatch import Signal

# A run of deliveries ended (`manage.py deliver`, or one auto-delivery job) having delivered or failed at
# least one. Kwargs: batch (its token), delivery_ids (those delivered and those failed, in this run).
batch_finished = Signal()
