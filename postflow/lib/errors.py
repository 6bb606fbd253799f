"""What Django's error pages and error e-mails may show."""

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsReporterFilter(SafeExceptionReporterFilter):
    """Django's default, plus webhook and service URLs and the settings built from them."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|WEBHOOK|_URL$|DATABASES|CHANNEL_LAYERS|CACHES",
        flags=re.IGNORECASE,
    )
