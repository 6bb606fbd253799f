"""What the shots app tells the apps above it. They connect in their AppConfig.ready(); shots imports none
of them.

Sent synchronously, inside the transaction of the move: a receiver that writes (the delivery app's record
of what was approved) commits with the move or not at all; a receiver that calls out (a job) does it on commit.
"""

from django.dispatch import Signal

# A shot's status changed (a transition or an override; never a refusal), sent by shots.services for every
# step it applies. Kwargs: shot_id, from_status, to_status, actor, event_id, details (the event's details:
# a Frame.io move names the approved version as details["version"]).
status_changed = Signal()
