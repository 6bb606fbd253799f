"""The architecture of docs/architecture.md, as checked contracts (pyproject.toml [tool.importlinter]).

`make lint` runs the same check; here it also fails `make test`, so that an upward import (a lower
app importing a higher one, a product module importing the sandbox, settings importing an app) is
caught wherever the suite runs.
"""

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # lint-imports reads pyproject.toml and imports the packages from here
    assert lint_imports(no_cache=True) == 0, capsys.readouterr().out


@pytest.mark.parametrize("contract", ["layers", "sandbox-alone", "sandbox-mount-only", "settings-import-no-app"])
def test_each_contract_is_configured(contract, monkeypatch, capsys):
    """A contract missing from pyproject.toml would keep nothing: each one is there and kept."""
    monkeypatch.chdir(ROOT)
    assert lint_imports(no_cache=True, limit_to_contracts=(contract,)) == 0, capsys.readouterr().out
