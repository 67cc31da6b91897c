import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Small projects with their own tests, run by `confirm --pytest` (tests/test_confirm_drives.py), not by this suite.
collect_ignore = ["projects"]


@pytest.fixture(autouse=True)
def _plugin_results_not_cached(monkeypatch):
    """Tests that run the flake8 plugin in this process patch the engine or count its parses: a
    result another test left in the results cache must not answer for them. The cache itself is
    tested through the flake8 executable (test_flake8_integration.py)."""
    from jax_purity_lint.flake8_plugin import JaxPurityPlugin

    monkeypatch.setattr(JaxPurityPlugin, "no_cache", True)
