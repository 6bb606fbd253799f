"""sheets' system check: GOOGLE_SHEET_COLUMNS names fields the sync knows (settings.py checks the JSON only)."""

from django.core.checks import run_checks

from sheets.checks import check_sheet_columns


def test_the_default_config_passes_every_check():
    assert not [e for e in run_checks() if e.is_serious()]
    assert check_sheet_columns() == []


def test_known_fields_pass_and_an_unknown_one_is_reported_naming_the_variable(settings):
    settings.GOOGLE_SHEET_COLUMNS = {"status": "État VFX", "scene": "Séquence", "last_note": "Dernière note"}
    assert check_sheet_columns() == []
    settings.GOOGLE_SHEET_COLUMNS = {"status": "État VFX", "statut": "Statut", "etat": "État"}
    [error] = check_sheet_columns()
    assert error.id == "sheets.E001" and error.is_serious()
    assert error.msg.startswith("GOOGLE_SHEET_COLUMNS: unknown field(s) ['etat', 'statut']; fields are: shot_number,")
