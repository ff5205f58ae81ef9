"""Per-arm parameters: every numeric parameter can differ by arm, resolved through the user's
arm, inside one market."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.engine import run
from sim.mechanics.bass_acquisition import BassAcquisitionParams
from sim.theory import purchase_moments
from sim.variants import VariantParams
from tests.conftest import reference_dict, scenario_from

Z = 4.0


def with_arms(data: dict, treatment: dict[str, float], share: float = 0.5) -> dict:
    data["experiment"] = {"arms": [
        {"name": "control", "share": 1 - share},
        {"name": "treatment", "share": share, "set": treatment},
    ]}
    return data


def test_arm_params_resolve_per_user() -> None:
    params = VariantParams([BassAcquisitionParams(p=0.01, q=0.3),
                            BassAcquisitionParams(p=0.05, q=0.3)])
    assert params.get("q") == 0.3 and not params.varies("q")
    assert np.array_equal(params.get("p"), [0.01, 0.05])
    arm_of_rows = np.array([1, 0, 1], dtype=np.int8)
    assert np.array_equal(params.for_rows("p", arm_of_rows), [0.05, 0.01, 0.05])


def test_users_split_by_share() -> None:
    """Each user lands in the treatment arm with probability equal to its share."""
    n = 200_000
    data = reference_dict(days=2, market={"size": n})
    data["mechanics"] = {"acquisition": {"type": "bass_acquisition", "p": 1.0, "q": 0.0}}
    result = run(scenario_from(with_arms(data, {"mechanics.acquisition.q": 0.1}, share=0.3)))
    treated = result.arm_metrics.query("arm == 'treatment' and day == 0")["new_users"].item()
    assert abs(treated - 0.3 * n) < Z * math.sqrt(n * 0.3 * 0.7)
    assert result.metrics["new_users"].iloc[0] == n


def test_per_arm_innovation_rate_changes_only_its_arm() -> None:
    """q = 0: each arm's users join independently, P(joined by day t) = 1 - (1 - p)^(t+1)."""
    n, days = 400_000, 20
    data = reference_dict(days=days, market={"size": n})
    data["mechanics"] = {"acquisition": {"type": "bass_acquisition", "p": 0.01, "q": 0.0}}
    result = run(scenario_from(with_arms(data, {"mechanics.acquisition.p": 0.05})))
    last = result.arm_metrics.query("day == @days - 1").set_index("arm")
    for arm, p in (("control", 0.01), ("treatment", 0.05)):
        share = 1 - (1 - p) ** days
        joined = last.loc[arm, "acquired_users"]
        # arm size is itself Binomial(n, 1/2): the joined count is Binomial(n, share / 2)
        expected, var = n * 0.5 * share, n * 0.5 * share * (1 - 0.5 * share)
        assert abs(joined - expected) < Z * math.sqrt(var), arm


def test_per_arm_purchase_rate_matches_theory_per_arm() -> None:
    n, days = 600_000, 60
    data = reference_dict(days=days, market={"size": n}, seed=11)
    data["mechanics"]["acquisition"].update(p=1.0, q=0.0)
    result = run(scenario_from(with_arms(data, {"mechanics.purchase.purchase_rate.r": 1.0})))
    for arm, r in (("control", 0.5), ("treatment", 1.0)):
        frame = result.arm_metrics.query("arm == @arm")
        users = frame["new_users"].iloc[0]
        theory = purchase_moments(r, 10.0, 1.0, 4.0, days)
        mean, var = theory.mean_purchases[-1], theory.var_purchases[-1]
        assert abs(frame["purchases"].sum() - users * mean) < Z * math.sqrt(users * var), arm
        s = theory.survival[-1]
        alive = frame["alive_users"].iloc[-1]
        assert abs(alive - users * s) < Z * math.sqrt(users * s * (1 - s)), arm


def test_word_of_mouth_spills_over_between_arms() -> None:
    """Arms share one market: treated joiners raise the imitation term for control users too."""
    n, days = 200_000, 15
    data = reference_dict(days=days, market={"size": n}, seed=3)
    data["mechanics"] = {"acquisition": {"type": "bass_acquisition", "p": 0.005, "q": 0.4}}
    plain = run(scenario_from(dict(data)))
    boosted = run(scenario_from(with_arms(dict(data), {"mechanics.acquisition.p": 0.05})))
    control_joined = boosted.arm_metrics.query("arm == 'control'")["new_users"].sum()
    half_of_plain = plain.metrics["new_users"].sum() / 2
    assert control_joined > half_of_plain * 1.2


@pytest.mark.parametrize("path", ["mechanics.purchase.window.first_day", "days"])
def test_only_mechanic_numbers_can_vary_by_arm(path: str) -> None:
    from sim.errors import InputError

    data = with_arms(reference_dict(), {path: 3})
    with pytest.raises(InputError):
        scenario_from(data)
