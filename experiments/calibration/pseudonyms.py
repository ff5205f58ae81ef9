"""Customer ids never leave a shop's export as they are: each is replaced by a salted
BLAKE2b-128 digest (`pseudonymise`). The salt is kept beside the calibration (owner-only
`id_salt`, or $GROWTHSIM_ID_SALT), so a later export of the same shop links the same customers
and nobody without the salt can reverse them."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

SALT_ENV = "GROWTHSIM_ID_SALT"
SALT_FILE = "id_salt"


def resolve_salt(folder: Path | None) -> tuple[bytes, bool]:
    """The pseudonymisation salt and whether it is new: $GROWTHSIM_ID_SALT, else the folder's
    stored salt, else a new random one. Nothing is written here: a new salt is kept (see
    `Observed.keep_salt`) only once the whole file has been read and the command goes ahead,
    so bad input leaves no trace."""
    env = os.environ.get(SALT_ENV)
    if env:
        return env.encode("utf-8"), False
    if folder is not None:
        path = Path(folder) / SALT_FILE
        if path.exists():
            return path.read_text("utf-8").strip().encode("utf-8"), False
    return secrets.token_hex(16).encode("utf-8"), True


def salt_folder_of(fitted_folder: Path) -> Path | None:
    """Where a calibration kept its salt: the nearest folder with an `id_salt`, from the
    folder of fitted.yaml up to three levels above it (the calibration's --out)."""
    for candidate in (fitted_folder, *Path(fitted_folder).resolve().parents[:3]):
        if (Path(candidate) / SALT_FILE).is_file():
            return Path(candidate)
    return None


def store_salt(folder: Path, salt: bytes) -> None:
    """Keep a salt in the folder (owner-only), so reruns link the same customers."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SALT_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(salt.decode("utf-8"), "utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def pseudonymise(ids: pd.Series, salt: bytes) -> pd.Series:
    """Salted BLAKE2b-128 of each id's text: stable for one salt, not reversible without it."""
    uniques, codes = np.unique(ids.astype(str).to_numpy(), return_inverse=True)
    hashed = np.array([hashlib.blake2b(u.encode("utf-8"), digest_size=16, key=salt[:64])
                       .hexdigest() for u in uniques], dtype=object)
    return pd.Series(hashed[codes], index=ids.index, name="user")
