"""frameio's system check: FRAMEIO_STATUS_MAP moves shots to statuses that exist (settings.py parses the pairs)."""

from django.core.checks import run_checks

from frameio.checks import check_status_map


def test_the_default_config_passes_every_check():
    assert not [e for e in run_checks() if e.is_serious()]
    assert check_status_map() == []


def test_a_status_that_does_not_exist_is_reported_naming_the_variable(settings):
    settings.FRAMEIO_STATUS_MAP = {"Approved": "review_approved", "Needs Changes": "changes"}
    [error] = check_status_map()
    assert error.id == "frameio.E001" and error.is_serious()
    assert error.msg.startswith(
        "FRAMEIO_STATUS_MAP: 'Needs Changes=changes' is not 'Frame.io option=shot status' (statuses: pending,"
    )
