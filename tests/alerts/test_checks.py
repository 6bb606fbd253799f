"""alerts' system check: the alerts settings that name shot statuses name real ones."""

from django.core.checks import run_checks

from alerts.checks import check_statuses


def test_the_default_config_passes_every_check():
    assert not [e for e in run_checks() if e.is_serious()]
    assert check_statuses() == []


def test_an_unknown_stale_status_is_reported_naming_the_variable(settings):
    settings.ALERT_SHOT_STALE_STATUSES = ["review_uploaded", "reviewing", "ae_working"]
    [error] = check_statuses()
    assert error.id == "alerts.E001" and error.is_serious()
    assert error.msg.startswith("ALERT_SHOT_STALE_STATUSES: unknown status ae_working, reviewing (statuses: pending,")
