"""What Django's error pages and error e-mails may show."""

import re
from collections.abc import Mapping

from django.views.debug import SafeExceptionReporterFilter


class SecretsReporterFilter(SafeExceptionReporterFilter):
    """Django's default, plus webhook and service URLs and the settings built from them; and, in every
    frame of a traceback (libraries' too: requests, oauthlib), the variables whose names say secret.

    `sensitive_variables` only covers frames of our own decorated functions; a token in an
    oauthlib frame, or an Authorization header in a requests frame, would reach the error e-mail.
    """

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|WEBHOOK|_URL$|DATABASES|CHANNEL_LAYERS|CACHES",
        flags=re.IGNORECASE,
    )
    # Frame variables: the same names, and any URL (presigned part URLs carry their signature).
    hidden_variables = re.compile(
        "AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|WEBHOOK|URL|CREDENTIAL|CODE_VERIFIER|HEADERS|BODY|DATA$",
        flags=re.IGNORECASE,
    )

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        if not self.is_active(request):
            return variables
        return [(name, self._cleanse_variable(name, value)) for name, value in variables]

    def _cleanse_variable(self, name, value):
        if isinstance(name, str) and self.hidden_variables.search(name):
            return self.cleansed_substitute
        if isinstance(value, Mapping) and not isinstance(value, dict):
            value = dict(value)  # requests' CaseInsensitiveDict of headers, say
        if isinstance(value, dict):
            return {key: self._cleanse_variable(key, item) for key, item in value.items()}
        return value
