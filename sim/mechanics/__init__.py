"""The mechanic registry: `type:` name -> (parameter model, mechanic class).

Adding a mechanic means one new module here and one entry below.
"""

from __future__ import annotations

from sim.mechanics.base import Mechanic, MechanicParams
from sim.mechanics.bass_acquisition import BassAcquisition, BassAcquisitionParams
from sim.mechanics.purchase_dropout import PurchaseDropout, PurchaseDropoutParams

REGISTRY: dict[str, tuple[type[MechanicParams], type[Mechanic]]] = {
    "bass_acquisition": (BassAcquisitionParams, BassAcquisition),
    "purchase_dropout": (PurchaseDropoutParams, PurchaseDropout),
}

__all__ = ["REGISTRY", "Mechanic", "MechanicParams"]
