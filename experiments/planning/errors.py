"""The one error type of the power calculator: which input to change, and why."""

from __future__ import annotations


class PowerInputError(ValueError):
    """An impossible or contradictory request; ``field`` names the input to change."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
