"""The API is imported where it is used, not by every process: django-ninja and pydantic (~11 MB) stay out
of the upload workers, the watcher and `frameio_upload`, which run every system check but the URL ones
(postflow.lib.serves_no_urls), resolve and reverse other names, and never serve /api/v1/
(postflow.urls.ImportedOnUse)."""

import json

import pytest
from django.core.checks import Tags
from django.core.checks.registry import registry
from django.core.checks.urls import check_resolver, check_url_namespaces_unique
from django.core.management.base import SystemCheckError
from django.urls import reverse
from ninja.throttling import SimpleRateThrottle

from api.rates import parse_rate
from postflow.management.commands.qcluster import Command as QclusterCommand
from postflow.urls import ImportedOnUse, urlpatterns
from tests.processes import child_env, manage

# What a child prints: whether the API's heavy imports are there after `code` ran.
PROBE = """
import json, sys
from django.urls import reverse
{code}
loaded = sorted(name for name in ("ninja", "pydantic", "api.views") if name in sys.modules)
print(json.dumps({{"answer": answer, "loaded": loaded}}))
"""


def _in_a_child(tmp_path, code: str) -> dict:
    env = child_env(tmp_path)  # no table is read: no migrate
    return json.loads(manage(env, "shell", "-c", PROBE.format(code=code)).stdout.strip().splitlines()[-1])


def test_a_worker_checks_resolves_and_reverses_without_importing_the_api(tmp_path):
    code = """
from django.urls import Resolver404, resolve
from postflow.management.commands.qcluster import Command
Command().check()  # what `manage.py qcluster` runs first: every check but the URL ones
try:
    resolve("/no-such-page/")  # a request elsewhere never asks the API's mount
except Resolver404:
    pass
answer = reverse("frameio:webhook")
"""
    assert _in_a_child(tmp_path, code) == {"answer": "/frameio/webhook/", "loaded": []}


def test_a_reverse_into_the_api_before_any_request_imports_it(tmp_path):
    shown = _in_a_child(tmp_path, 'answer = reverse("api:openapi-json")')
    assert shown == {"answer": "/api/v1/openapi.json", "loaded": ["api.views", "ninja", "pydantic"]}


def test_manage_check_runs_the_url_checks_on_the_api(tmp_path):
    code = """
from django.core.management import call_command
call_command("check")
answer = "checked"
"""
    assert _in_a_child(tmp_path, code) == {"answer": "checked", "loaded": ["api.views", "ninja", "pydantic"]}


def test_a_command_that_serves_no_urls_still_stops_on_a_bad_setting(settings):
    settings.POSTFLOW_API_PAGE_SIZE = 0
    with pytest.raises(SystemCheckError, match=r"api\.E002"):
        QclusterCommand().check()
    # and the URL checks are back in the registry for whatever checks next (manage.py check, the web)
    assert any(Tags.urls in check.tags for check in registry.registered_checks)


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


def test_collectstatic_puts_the_docs_page_files_in_the_manifest(tmp_path):
    """The real storage (whitenoise's compressed manifest), as `make run` collects: the page's files are
    found through settings.STATICFILES_DIRS now that "ninja" is not an app."""
    env = child_env(tmp_path)
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    manifest = json.loads((tmp_path / "var" / "static" / "staticfiles.json").read_text())["paths"]
    assert {"ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"} <= manifest.keys()


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
