"""Helpers shared by the frontends: the warning category, array coercion and unique node names."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np


class FrontendWarning(UserWarning):
    """A model was imported or exported with a repair or a documented loss of meaning."""


def warn(message: str, collected: list[str] | None = None) -> None:
    """Emit ``message`` as a FrontendWarning and append it to ``collected``."""
    if collected is not None:
        collected.append(message)
    warnings.warn(message, FrontendWarning, stacklevel=3)


def to_numpy(value: Any) -> tuple[Any, bool]:
    """(value as NumPy when it is a torch tensor, whether it was one). Other values pass unchanged."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return np.asarray(value.detach().cpu().numpy()), True
    return value, False


def snap(x: np.ndarray, bits: int = 20, rtol: float = 1e-12) -> np.ndarray:
    """Values within ``rtol`` of a multiple of 2**-bits are set to it exactly (undoes the last-bit error of
    round trips such as β → τ = dt/(1−β) → 1 − dt/τ, so integer gains and k/4096 decays stay exact)."""
    x = np.asarray(x, dtype=np.float64)
    q = np.round(x * (1 << bits)) / (1 << bits)
    close = np.abs(x - q) <= rtol * np.maximum(1.0, np.abs(x))
    return np.where(close, q, x)


def unique_name(base: str, names: set[str]) -> str:
    """``base``, or ``base#2``, ``base#3``... when taken; the result is added to ``names``."""
    name, k = base, 2
    while name in names:
        name, k = f"{base}#{k}", k + 1
    names.add(name)
    return name
