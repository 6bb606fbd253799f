"""Alerts by e-mail, through Django's mail backend (EMAIL_URL); recipients are ALERT_EMAILS."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage

from alerts.notifiers import Outcome, Result


def send(payload: dict) -> Outcome:
    recipients = list(settings.ALERT_EMAILS)
    if not recipients:
        return Outcome(Result.REJECTED, "ALERT_EMAILS is empty")
    message = EmailMessage(payload.get("subject", ""), payload.get("body", ""), settings.ALERT_EMAIL_FROM, recipients)
    try:
        message.send()
    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        return Outcome(Result.REJECTED, type(exc).__name__)
    except (smtplib.SMTPException, OSError) as exc:
        # Most SMTP errors mean not accepted; a server that drops the line after accepting may deliver twice.
        return Outcome(Result.RETRY, type(exc).__name__)
    return Outcome(Result.SENT)
