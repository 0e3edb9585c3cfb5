"""Neuron models of the IR: discrete-time, with every parameter that decides spike-exact behaviour.

Per-step update order is defined in docs/semantics.md and implemented in ir/reference.py. Parameters are
per-neuron arrays (any array broadcastable to the population shape; scalars are stored as 0-d arrays).
Units: membrane quantities are in the population's own units (after quantization: integer state units);
``refractory`` in steps.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import GraphError

KINDS = ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator")
SPIKING_KINDS = frozenset({"IF", "LIF", "CubaLIF"})
CURRENT_KINDS = frozenset({"CubaLIF", "CubaLI"})
COMPARISONS = (">=", ">")
RESETS = ("zero", "subtract", "none")
RESET_TIMINGS = ("before_decay", "after_decay")
ARRAY_PARAMS = ("beta", "alpha", "gain", "syn_gain", "leak", "threshold", "v_reset")
#: per-port parameters of multi-port current-based neurons: broadcast to ``(*shape, ports)`` when ports > 1
PORT_PARAMS = ("alpha", "syn_gain")
#: Integer mode applies a decay factor as trunc(v * round(beta * 2**DECAY_SHIFT) / 2**DECAY_SHIFT).
DECAY_SHIFT = 12


def _as_param(value: Any, name: str) -> np.ndarray:
    arr = np.array(checks.number_array(value, f"neuron parameter {name}", None, GraphError, finite=False))
    arr.setflags(write=False)
    return arr


#: (low, high) of the parameters with a range (both ends included): decays are factors per step
PARAM_RANGES = {"beta": (0.0, 1.0), "alpha": (0.0, 1.0)}


@dataclass(frozen=True, eq=False)
class Neuron:
    """A neuron model.

    kind: "IF" (β = 1), "LIF", "CubaLIF" (current-based: a synaptic current with decay α feeds the
    membrane), non-spiking "LI", "CubaLI" and "Integrator" (β = 1, a readout).
    beta: membrane decay per step. alpha: synaptic-current decay per step (Cuba kinds).
    gain: gain from the (synaptic) input onto the membrane. syn_gain: gain from input onto the current.
    leak: constant added to the membrane each step (bias, or (1-β)·v_leak for NIR's LIF).
    threshold, comparison (">=" or ">"), reset ("zero": set to v_reset; "subtract": v -= threshold; "none").
    reset_timing: "before_decay" resets right after firing, so the next step decays the reset value
    (SpikingJelly, sinabs, Lava); "after_decay" applies the previous step's reset after this step's decay and
    input (snnTorch's delayed reset). refractory: steps after a spike during which the membrane is held (no
    decay, input or leak; a current-based neuron's current keeps integrating) and the neuron cannot fire.
    v_min / v_max: clamp of the stored state at the end of each step. weight_bits / state_bits: set once
    quantized; state_bits also saturates the state to its signed range.
    ports: number of synaptic current ports of a current-based kind (default 1). With K > 1 ports the neuron
    keeps K currents, i_k ← α_k·i_k + syn_gain_k·x_k, and the membrane integrates their sum,
    v ← β·v + gain·Σ_k i_k + leak; each incoming Projection feeds one port (``Projection.port``). ``alpha`` and
    ``syn_gain`` then broadcast to ``(*shape, K)`` (port on the last axis: a length-K vector gives one decay per
    port). Every other parameter is per neuron as usual.
    """

    kind: str
    beta: Any = 1.0
    alpha: Any = 0.0
    gain: Any = 1.0
    syn_gain: Any = 1.0
    leak: Any = 0.0
    threshold: Any = 1.0
    v_reset: Any = 0.0
    comparison: str = ">="
    reset: str = "subtract"
    reset_timing: str = "before_decay"
    refractory: int = 0
    v_min: float | None = None
    v_max: float | None = None
    weight_bits: int | None = None
    state_bits: int | None = None
    ports: int = 1

    def __post_init__(self) -> None:
        checks.choice(self.kind, KINDS, "neuron kind", None, GraphError)
        for name in ARRAY_PARAMS:
            object.__setattr__(self, name, _as_param(getattr(self, name), name))
        for name in ARRAY_PARAMS:
            if not np.all(np.isfinite(getattr(self, name))):
                raise GraphError(f"neuron parameter {name} is not finite", needed="finite values",
                                 hint="check the source model")
        if self.kind in ("IF", "Integrator") and np.any(self.beta != 1.0):
            raise GraphError(f"{self.kind} neurons have beta = 1", needed=1.0, available=_values(self.beta))
        for name, (lo, hi) in PARAM_RANGES.items():
            arr = getattr(self, name)
            if arr.size and (arr.min() < lo or arr.max() > hi):
                bad = arr[(arr < lo) | (arr > hi)]
                raise GraphError(f"neuron parameter {name} (decay per step) is out of range",
                                 needed=f"[{lo:g}, {hi:g}]", available=_values(bad),
                                 hint="a decay factor is 1 - dt/tau or exp(-dt/tau)")
        checks.choice(self.reset, RESETS, "reset", None, GraphError)
        if self.kind in SPIKING_KINDS:
            self._check_threshold()
        checks.choice(self.comparison, COMPARISONS, "comparison", None, GraphError)
        checks.choice(self.reset_timing, RESET_TIMINGS, "reset_timing", None, GraphError)
        object.__setattr__(self, "refractory", checks.integer(self.refractory, "refractory (steps)", None,
                                                              GraphError, lo=0, hi=2**31 - 1))
        object.__setattr__(self, "ports", checks.integer(self.ports, "ports", None, GraphError, lo=1, hi=1024))
        if self.ports > 1 and self.kind not in CURRENT_KINDS:
            raise GraphError(f"{self.kind} neurons have one input; several synaptic ports need a current-based kind",
                             needed=f"kind in {sorted(CURRENT_KINDS)}", available=self.kind,
                             hint="use CubaLIF / CubaLI with ports=K")
        for name in ("v_min", "v_max"):  # plain Python scalars (JSON-serialisable)
            v = getattr(self, name)
            object.__setattr__(self, name, None if v is None else checks.real(v, name, None, GraphError))
        for name, hi in (("weight_bits", 32), ("state_bits", 62)):
            v = getattr(self, name)
            object.__setattr__(self, name, None if v is None else checks.integer(v, name, None, GraphError, lo=1,
                                                                                 hi=hi))
        if self.v_min is not None and self.v_max is not None and self.v_min > self.v_max:
            raise GraphError("state bounds are empty (v_min > v_max)", needed="v_min <= v_max",
                             available=(self.v_min, self.v_max))

    def _check_threshold(self) -> None:
        """A spiking neuron must be able to stop firing: with a subtractive reset the threshold is positive
        (subtracting θ <= 0 never lowers the membrane below θ); resetting to ``v_reset``, θ > v_reset (at θ <=
        v_reset the reset value fires again, or with ``>`` any input above the reset value fires). Absolute units
        (a threshold of -50 mV resetting to -60 mV) are fine."""
        thr = self.threshold
        if self.reset == "subtract" and thr.size and thr.min() <= 0:
            raise GraphError("threshold of a spiking neuron with subtractive reset must be positive", needed="> 0",
                             available=_values(thr[thr <= 0]), hint="a threshold <= 0 fires on every step")
        if self.reset == "zero":
            try:
                bad = np.broadcast_arrays(thr, self.v_reset)
            except ValueError:
                return  # check_shape names the parameter that does not broadcast
            low = bad[0] <= bad[1]
            if np.any(low):
                raise GraphError("threshold must be above v_reset", needed="threshold > v_reset",
                                 available=f"threshold {_values(bad[0][low])}, v_reset {_values(bad[1][low])}",
                                 hint="a neuron reset to v_reset >= threshold fires on every step")

    @property
    def spiking(self) -> bool:
        return self.kind in SPIKING_KINDS

    @property
    def has_current(self) -> bool:
        return self.kind in CURRENT_KINDS

    def state_bounds(self) -> tuple[float, float]:
        """(low, high) bounds of the stored membrane state: v_min/v_max and the state_bits range."""
        lo, hi = -np.inf, np.inf
        if self.state_bits is not None:
            lo, hi = -(2.0 ** (self.state_bits - 1)), 2.0 ** (self.state_bits - 1) - 1
        if self.v_min is not None:
            lo = max(lo, self.v_min)
        if self.v_max is not None:
            hi = min(hi, self.v_max)
        return lo, hi

    def param_shape(self, name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape parameter ``name`` broadcasts to in a population of ``shape``: ``(*shape, ports)`` for the
        per-port parameters of a multi-port neuron, else ``shape``."""
        return (*shape, self.ports) if self.ports > 1 and name in PORT_PARAMS else tuple(shape)

    def port_param(self, name: str, shape: tuple[int, ...], port: int = 0) -> np.ndarray:
        """Parameter ``name`` of synaptic port ``port`` broadcast to the population ``shape`` (read-only view)."""
        arr = np.broadcast_to(getattr(self, name), self.param_shape(name, shape))
        return arr[..., port] if self.ports > 1 and name in PORT_PARAMS else arr

    def check_shape(self, shape: tuple[int, ...], node: str) -> None:
        for name in ARRAY_PARAMS:
            arr = getattr(self, name)
            shape_p = self.param_shape(name, shape)
            try:
                np.broadcast_to(arr, shape_p)
            except ValueError:
                raise GraphError(
                    f"neuron parameter {name} does not broadcast to the population shape",
                    node=node, needed=shape_p, available=arr.shape,
                ) from None

    def replace(self, **changes: Any) -> Neuron:
        return replace(self, **changes)

    def to_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """(JSON-able scalars, arrays) for serialisation."""
        meta: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ARRAY_PARAMS:
                arrays[f.name] = np.asarray(v)
            elif f.name != "ports" or v != 1:  # single-port neurons serialise as before
                meta[f.name] = v
        return meta, arrays

    @classmethod
    def from_dict(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Neuron:
        checks.mapping(meta, "neuron", None, GraphError)
        allowed = {f.name for f in fields(cls)} - set(ARRAY_PARAMS)
        unknown = sorted(set(meta) - allowed)
        if unknown or "kind" not in meta:
            raise GraphError(f"unknown neuron field {unknown[0]!r}" if unknown else "neuron has no kind",
                             needed="fields " + ", ".join(sorted(allowed)), available=", ".join(map(str, meta)))
        return cls(**meta, **{k: arrays[k] for k in ARRAY_PARAMS if k in arrays})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Neuron):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name in ARRAY_PARAMS:
                if a.shape != b.shape or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


def _values(arr: np.ndarray) -> str:
    """A few distinct values of ``arr`` for a message."""
    vals = np.unique(np.asarray(arr).reshape(-1))
    text = ", ".join(f"{v:g}" for v in vals[:3])
    return text + (", ..." if vals.size > 3 else "")


def IF(threshold: Any = 1.0, **kw: Any) -> Neuron:
    """Integrate-and-fire (β = 1)."""
    return Neuron("IF", beta=1.0, threshold=threshold, **kw)


def LIF(beta: Any, threshold: Any = 1.0, **kw: Any) -> Neuron:
    """Leaky integrate-and-fire with decay β per step."""
    return Neuron("LIF", beta=beta, threshold=threshold, **kw)


def CubaLIF(alpha: Any, beta: Any, threshold: Any = 1.0, **kw: Any) -> Neuron:
    """Current-based LIF: i ← α·i + syn_gain·x; v ← β·v + gain·i + leak. With ``ports=K`` (``alpha`` of length
    K, or shape ``(*shape, K)``): K currents i_k ← α_k·i_k + syn_gain_k·x_k, and v ← β·v + gain·Σ_k i_k + leak."""
    return Neuron("CubaLIF", alpha=alpha, beta=beta, threshold=threshold, **kw)


def LI(beta: Any, **kw: Any) -> Neuron:
    """Non-spiking leaky integrator; its output is its membrane value."""
    return Neuron("LI", beta=beta, reset="none", **kw)


def Integrator(**kw: Any) -> Neuron:
    """Non-spiking readout that sums its input (β = 1)."""
    return Neuron("Integrator", beta=1.0, reset="none", **kw)
