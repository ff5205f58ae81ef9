"""The engine against every closed form that applies (tests/validation/checks.py): each check
within Z_MAX Monte Carlo standard errors of theory. docs/validation.md is the table of the same
checks (`python -m tests.validation.report`)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.validation.checks import CHECKS, Z_MAX

SLOW = {"ab", "ab_arms"}


@pytest.mark.parametrize("group", [pytest.param(g, marks=pytest.mark.slow) if g in SLOW
                                   else g for g in CHECKS])
def test_engine_matches_theory(group: str) -> None:
    checks = CHECKS[group]()
    assert checks
    failed = [f"{c.name}: theory {c.theory:.6g}, simulated {c.simulated:.6g} ± {c.se:.3g} "
              f"(z = {c.z:+.2f})" for c in checks if not c.passed]
    assert not failed, f"beyond {Z_MAX} standard errors:\n" + "\n".join(failed)
    table = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
    stale = [c.name for c in checks if f"| {c.name} |" not in table]
    assert not stale, f"not in docs/validation.md (python -m tests.validation.report): {stale}"
