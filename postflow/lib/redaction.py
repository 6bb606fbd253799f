"""A logging filter that blanks Discord webhook URLs (their path holds the webhook's token).

postflow never logs one on purpose; this catches what a library or a traceback would print. No model
imports: the logging configuration loads it before the apps, so it lives in postflow.lib (below them).
"""

import logging
import re

WEBHOOK_URL = re.compile(r"(?i)(?:https?://[^\s/'\"]*)?/api/(?:v\d+/)?webhooks/\d+/[\w-]+")
REPLACEMENT = "[discord webhook]"


def redact(text: str) -> str:
    return WEBHOOK_URL.sub(REPLACEMENT, text)


class RedactDiscordWebhooks(logging.Filter):
    """Rewrites the message (and the traceback text) of every record that passes the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if WEBHOOK_URL.search(message):
            record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and WEBHOOK_URL.search(record.exc_text):
            record.exc_text = redact(record.exc_text)
        return True
