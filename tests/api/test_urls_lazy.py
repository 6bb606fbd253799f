"""The API is imported by its first request, not by every process: django-ninja and pydantic (~11 MB)
stay out of the watcher, the upload workers and the commands, which run the system checks and reverse
other names but never serve /api/v1/ (postflow.urls.ImportedOnUse)."""

import json

import pytest
from django.core.checks.urls import check_resolver, check_url_namespaces_unique
from django.urls import reverse
from ninja.throttling import SimpleRateThrottle

from api.rates import parse_rate
from postflow.urls import ImportedOnUse, urlpatterns
from tests.processes import child_env, manage

# What the child prints: whether the API's heavy imports are there after the checks and a reverse().
PROBE = """
import json, sys
from django.core.management import call_command
from django.urls import reverse
call_command("check")
webhook = reverse("frameio:webhook")
loaded = sorted(name for name in ("ninja", "pydantic", "api.views") if name in sys.modules)
print(json.dumps({"webhook": webhook, "loaded": loaded}))
"""


def test_a_process_that_checks_and_reverses_does_not_import_the_api(tmp_path):
    env = child_env(tmp_path)
    manage(env, "migrate", "-v0")
    shown = json.loads(manage(env, "shell", "-c", PROBE).stdout.strip().splitlines()[-1])
    assert shown == {"webhook": "/frameio/webhook/", "loaded": []}


def test_a_request_under_the_prefix_loads_it_and_its_names_reverse(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert reverse("api:openapi-json") == "/api/v1/openapi.json"
    assert reverse("api:api-docs") == "/api/v1/docs"


def test_once_loaded_its_patterns_pass_the_url_checks(client):
    client.get("/api/v1/openapi.json")
    (mount,) = [pattern for pattern in urlpatterns if isinstance(pattern, ImportedOnUse)]
    names = {getattr(pattern, "name", None) for pattern in mount.url_patterns}
    assert {"api-docs", "openapi-json", "list_shots", "list_notes"} <= names  # and the JSON 404 last
    assert check_resolver(mount) == []
    assert check_url_namespaces_unique(None) == []


def test_the_docs_page_is_served_from_the_package_not_a_cdn(admin_client):
    page = admin_client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    # and the file itself is found by the static files finders (settings.STATICFILES_DIRS)
    from django.contrib.staticfiles import finders

    assert finders.find("ninja/swagger-ui-bundle.js")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("600/min", (600, 60)), ("20/s", (20, 1)), ("5000/hour", (5000, 3600)), ("10/5m", (10, 300)), ("1/d", (1, 86400))],
)
def test_the_rate_reads_as_django_ninja_reads_it(text, expected):
    assert parse_rate(text) == expected == SimpleRateThrottle(rate="1/s").parse_rate(text)


@pytest.mark.parametrize("text", ["fast", "10/fortnight", "0/min", "10/0s", "/min", "10 per min"])
def test_what_is_not_a_rate(text):
    with pytest.raises(ValueError, match=r"not a rate|allows no request"):
        parse_rate(text)
