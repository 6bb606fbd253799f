"""The api app's system checks: a setting of the right type that cannot work stops the start."""

import pytest

from api.checks import check_api_settings


def ids(settings) -> list[str]:
    return [error.id for error in check_api_settings()]


def test_the_defaults_pass(settings):
    assert ids(settings) == []


@pytest.mark.parametrize("rate", ["fast", "10/fortnight", "0/min"])
def test_a_rate_that_is_not_one(settings, rate):
    settings.POSTFLOW_API_THROTTLE_RATE = rate
    assert ids(settings) == ["api.E001"]


@pytest.mark.parametrize(("size", "most"), [(0, 200), (300, 200), (50, 5000)])
def test_page_sizes_out_of_range(settings, size, most):
    settings.POSTFLOW_API_PAGE_SIZE, settings.POSTFLOW_API_MAX_PAGE_SIZE = size, most
    assert ids(settings) == ["api.E002"]


def test_webhook_counts_below_one(settings):
    settings.POSTFLOW_API_WEBHOOK_MAX_ATTEMPTS = 0
    settings.POSTFLOW_API_WEBHOOK_DISABLE_AFTER = 0
    assert ids(settings) == ["api.E003", "api.E003"]
