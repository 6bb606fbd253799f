from pathlib import Path

import pytest
import responses

# The upload tests' fixtures (`sandbox`, `shot`), shared with the alerts tests; a module's own
# fixture of the same name takes precedence.
pytest_plugins = ["tests.frameio.uploading"]

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(autouse=True, scope="session")
def _static_root() -> None:
    # Servers started by tests (live_server) do not run collectstatic; whitenoise warns without the folder.
    from django.conf import settings

    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _test_settings(settings) -> None:
    # The manifest storage of the settings needs `collectstatic` before any page renders.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # PBKDF2 at full strength costs ~0.4 s per user created; tests create many.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.WHITENOISE_AUTOREFRESH = True  # no "No directory at var/static/" warning per request


@pytest.fixture
def rsps():
    """`responses` for a test's outgoing HTTP: a request nobody registered fails, and so does a
    registered one that was never made."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple]:
    """The django-q2 jobs frameio and ingest enqueued, as (task path, id) tuples, instead of a real queue."""
    from frameio import jobs
    from ingest import jobs as ingest_jobs

    calls: list[tuple] = []
    monkeypatch.setattr(jobs, "async_task", lambda *args: calls.append(args))
    monkeypatch.setattr(ingest_jobs, "async_task", lambda *args: calls.append(args))
    return calls
