"""Random streams: one scenario seed, independent streams per replicate and per named consumer.

A stream is keyed by (replicate, stable hash of a name), so adding or removing a mechanic never
changes the draws of another, and the same seed gives the same numbers in any process.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_key(name: str) -> int:
    """A 32-bit integer from a name that is the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def stream(seed: int, replicate: int, name: str) -> np.random.Generator:
    sequence = np.random.SeedSequence(seed, spawn_key=(replicate, stable_key(name)))
    return np.random.Generator(np.random.PCG64(sequence))
