"""One NIR node → its IR object: an operator node → an ``ir.operators`` op, a neuron node → an ``ir.neurons.Neuron``.

Conventions (docs/semantics.md §6 states the same; node semantics as the NIR paper and the ``nir`` package define
them: Pedersen et al., "Neuromorphic intermediate representation", Nat. Commun. 15:8122, 2024):
- NIR is continuous-time and stores no dt; ``dt`` (seconds) is a parameter. Forward Euler by default:
  β = 1 − dt/τ, gain = r·dt/τ, leak = (dt/τ)·v_leak; CubaLIF α = 1 − dt/τ_syn, syn_gain = w_in·dt/τ_syn.
  ``discretization="exact"`` uses β = exp(−dt/τ) and gain = r·(1 − β) (exact for input held over a step).
- Spiking nodes fire on ``v > v_threshold`` (NIR's H(v − θ) is strict) and reset to ``v_reset`` (0 when the file
  has none) right after the spike (``before_decay``). NIR has no subtractive reset.
- IF / I: two conventions are in use in the files frameworks write: r = 1 meaning "v += I per step" (the NIR
  exporters of sinabs, snnTorch and Norse) and r = 1/dt (SpikingJelly's ``activation_based.nir_exchange``,
  continuous time: gain = r·dt). Both give gain 1; ``if_convention="auto"`` detects which one a node uses and
  reports it; other r values are read as continuous time (the spec) with a warning.
- A Delay node of d seconds is ``Delay(round(d/dt))`` steps (a warning when d is not a whole number of steps).
Repair (with a FrontendWarning): 0-d parameters are broadcast to the layer shape.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import FrontendError
from spikemesh.frontend.common import snap, warn
from spikemesh.frontend.nir.read import RawNode
from spikemesh.ir.neurons import Neuron
from spikemesh.ir.operators import AvgPool2d, Conv, Delay, Dense, Identity, Op, Scale, SumPool2d


def _arr(node: RawNode, key: str, name: str, default: Any = None) -> np.ndarray:
    v = node.params.get(key, default)
    if v is None:
        raise FrontendError(f"NIR {node.type} node lacks parameter {key!r}", node=name)
    a = checks.number_array(v, f"NIR {node.type} parameter {key}", name, FrontendError, finite=False)
    if not np.all(np.isfinite(a)):
        raise FrontendError(f"NIR {node.type} parameter {key} holds NaN or inf", node=name,
                            hint="check the trained model")
    return a


def _ints(v: Any, n: int, name: str, what: str) -> tuple[int, ...]:
    a = checks.number_array(v, what, name, FrontendError).reshape(-1)
    if a.size == 1:
        return (checks.integer(a[0], what, name, FrontendError),) * n
    if a.size != n:
        raise FrontendError(f"{what} needs {n} values", node=name, needed=n, available=a.size)
    return tuple(checks.integer(x, what, name, FrontendError) for x in a)


def op_of(node: RawNode, name: str, dt: float, notes: list[str]) -> Op | tuple[str, int, int]:
    """The IR op of a NIR operator node; Flatten returns ("flatten", start, end) (resolved with shapes)."""
    t = node.type
    if t == "Affine":
        return Dense(_arr(node, "weight", name), _arr(node, "bias", name))
    if t == "Linear":
        return Dense(_arr(node, "weight", name))
    if t == "Scale":
        return Scale(_arr(node, "scale", name))
    if t in ("Conv1d", "Conv2d"):
        w = _arr(node, "weight", name)
        nd = 1 if t == "Conv1d" else 2
        if w.ndim != nd + 2:
            raise FrontendError(f"{t} weight must have {nd + 2} axes", node=name, available=list(w.shape))
        stride = _ints(node.params.get("stride", 1), nd, name, "stride")
        dilation = _ints(node.params.get("dilation", 1), nd, name, "dilation")
        pad = node.params.get("padding", 0)
        if isinstance(pad, str):
            if pad == "valid":
                pad = 0
            elif pad == "same":
                ext = [d * (k - 1) for k, d in zip(w.shape[2:], dilation)]
                if any(e % 2 for e in ext) or any(s != 1 for s in stride):
                    raise FrontendError("padding='same' is asymmetric for this kernel", node=name,
                                        hint="export with explicit padding")
                pad = [e // 2 for e in ext]
            else:
                raise FrontendError(f"unknown padding {pad!r}", node=name)
        bias = node.params.get("bias")
        b = None if bias is None else _arr(node, "bias", name)
        groups = _ints(node.params.get("groups", 1), 1, name, "groups")[0]
        return Conv(w, b, stride, _ints(pad, nd, name, "padding"), dilation, groups)
    if t in ("SumPool2d", "AvgPool2d"):
        k = _ints(node.params["kernel_size"], 2, name, "kernel_size")
        s = _ints(node.params.get("stride", node.params["kernel_size"]), 2, name, "stride")
        p = _ints(node.params.get("padding", 0), 2, name, "padding")
        return (SumPool2d if t == "SumPool2d" else AvgPool2d)(k, s, p)
    if t == "Flatten":
        return ("flatten", _ints(node.params.get("start_dim", 1), 1, name, "start_dim")[0],
                _ints(node.params.get("end_dim", -1), 1, name, "end_dim")[0])
    if t == "Delay":
        d = _arr(node, "delay", name) / dt
        steps = np.round(d)
        if np.any(np.abs(d - steps) > 1e-6 * np.maximum(1, np.abs(d))):
            warn(f"{name}: Delay {np.unique(d)[:3].tolist()} steps is not a whole number of dt={dt:g} s; rounded",
                 notes)
        if np.any(steps < 0):
            raise FrontendError("negative Delay", node=name)
        return Delay(steps.astype(np.int64))
    if t == "Identity":
        return Identity()
    raise AssertionError(t)


def flatten_shape(in_shape: tuple[int, ...], start: int, end: int) -> tuple[int, ...]:
    n = len(in_shape)
    s = start + n if start < 0 else start
    e = end + n if end < 0 else end
    if not 0 <= s <= e < n:
        raise ValueError
    return (*in_shape[:s], math.prod(in_shape[s:e + 1]), *in_shape[e + 1:])


def file_precision(node: RawNode, key: str) -> type:
    """The float type a node's parameter is stored in (float32 for a float32 or float16 array, else float64)."""
    v = node.params.get(key)
    kind = getattr(v, "dtype", None)
    return np.float32 if kind is not None and kind.kind == "f" and kind.itemsize <= 4 else np.float64


def _decay(tau: np.ndarray, dt: float, exact: bool, name: str, what: str, notes: list[str],
           precision: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """(decay per step, the complementary input factor) for a time constant ``tau`` (s). The ratio dt/τ is
    computed in the ``precision`` the file stores τ in: a float32 τ of 2 steps is 2·dt only to float32 precision,
    and 1 − dt/τ in float64 would give β = 0.49999997 instead of the 0.5 every float32 simulator of the file uses
    (the decay and gains then follow in float64)."""
    if np.any(tau <= 0):
        raise FrontendError(f"{what} must be positive", node=name, available=float(tau.min()))
    k = (np.asarray(dt, dtype=precision) / np.asarray(tau, dtype=precision)).astype(np.float64)
    if exact:
        b = np.exp(-k)
        return b, 1.0 - b
    if np.any(k > 1):
        raise FrontendError(f"{what} shorter than dt gives a negative forward-Euler decay", node=name,
                            needed=f"{what} >= dt = {dt:g} s", available=f"{float(tau.min()):g} s",
                            hint="pass a smaller dt (Norse files need dt=1e-3) or discretization='exact'")
    return snap(1.0 - k), snap(k)


def _if_gain(r: np.ndarray, dt: float, conv: str, name: str, notes: list[str], report: dict[str, Any]) -> np.ndarray:
    if conv == "auto":
        if np.allclose(r, 1.0, rtol=1e-6, atol=0):
            conv_used, gain = "step (r = 1: v += I per step; sinabs/snnTorch/Norse)", np.ones_like(r)
        elif np.allclose(r * dt, 1.0, rtol=1e-6, atol=0):
            conv_used, gain = "continuous (r = 1/dt; SpikingJelly)", np.ones_like(r)
        else:
            conv_used, gain = "continuous (gain = r*dt)", snap(r * dt)
            warn(f"{name}: IF/I resistance r={np.unique(r)[:3].tolist()} is neither 1 nor 1/dt; read as continuous "
                 f"time (gain = r*dt); pass if_convention='step' for gain = r", notes)
    elif conv == "step":
        conv_used, gain = "step (gain = r)", r
    else:
        conv_used, gain = "continuous (gain = r*dt)", snap(r * dt)
    report["if_convention"] = conv_used
    return gain


def neuron_of(node: RawNode, name: str, shape: tuple[int, ...], dt: float, exact: bool, if_convention: str,
               notes: list[str], report: dict[str, Any]) -> Neuron:
    t = node.type
    n = math.prod(checks.shape(shape, "layer shape", name, FrontendError))
    checks.memory(8.0 * 16 * n, "the layer's parameters", name, FrontendError)
    zero_d = [k for k, v in node.params.items() if not k.startswith("_") and np.ndim(v) == 0]
    if zero_d:
        warn(f"{name}: 0-d NIR parameters {', '.join(sorted(zero_d))} broadcast to the layer shape {list(shape)}",
             notes)

    def p(key: str, default: Any = None) -> np.ndarray:
        a = _arr(node, key, name, default)
        try:
            return np.broadcast_to(a, shape).copy()
        except ValueError:
            raise FrontendError(f"parameter {key} does not match the layer shape", node=name, needed=list(shape),
                                available=list(a.shape)) from None

    common = {"comparison": ">", "reset": "zero", "reset_timing": "before_decay"}
    if t in ("IF", "I"):
        gain = _if_gain(p("r"), dt, if_convention, name, notes, report)
        report.update(beta=1.0, gain=_rng(gain))
        if t == "I":
            return Neuron("Integrator", beta=1.0, gain=gain, reset="none")
        return Neuron("IF", gain=gain, threshold=p("v_threshold"), v_reset=p("v_reset", 0.0), **common)
    if t == "Threshold":
        report.update(beta=0.0, gain=1.0)
        return Neuron("LIF", beta=0.0, threshold=p("threshold"), **common)
    if t in ("LIF", "LI"):
        b, k = _decay(p("tau"), dt, exact, name, "tau", notes, file_precision(node, "tau"))
        gain, leak = snap(p("r") * k), snap(p("v_leak", 0.0) * k)
        report.update(beta=_rng(b), gain=_rng(gain), leak=_rng(leak))
        if t == "LI":
            return Neuron("LI", beta=b, gain=gain, leak=leak, reset="none")
        return Neuron("LIF", beta=b, gain=gain, leak=leak, threshold=p("v_threshold"), v_reset=p("v_reset", 0.0),
                      **common)
    a, ks = _decay(p("tau_syn"), dt, exact, name, "tau_syn", notes, file_precision(node, "tau_syn"))
    b, k = _decay(p("tau_mem"), dt, exact, name, "tau_mem", notes, file_precision(node, "tau_mem"))
    syn_gain = snap(p("w_in", 1.0) * ks)
    gain, leak = snap(p("r") * k), snap(p("v_leak", 0.0) * k)
    report.update(alpha=_rng(a), syn_gain=_rng(syn_gain), beta=_rng(b), gain=_rng(gain), leak=_rng(leak))
    if t == "CubaLI":
        return Neuron("CubaLI", alpha=a, beta=b, gain=gain, syn_gain=syn_gain, leak=leak, reset="none")
    return Neuron("CubaLIF", alpha=a, beta=b, gain=gain, syn_gain=syn_gain, leak=leak, threshold=p("v_threshold"),
                  v_reset=p("v_reset", 0.0), **common)


def _rng(x: Any) -> float | list[float]:
    a = np.asarray(x, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    return lo if lo == hi else [lo, hi]


def param_shape(node: RawNode) -> tuple[int, ...] | None:
    keys = {"IF": "v_threshold", "LIF": "v_threshold", "CubaLIF": "v_threshold", "LI": "tau", "CubaLI": "tau_mem",
            "I": "r", "Threshold": "threshold"}
    shapes = [np.shape(v) for k, v in node.params.items() if not k.startswith("_") and np.ndim(v) > 0]
    main = node.params.get(keys[node.type])
    if main is not None and np.ndim(main) > 0:
        return tuple(int(s) for s in np.shape(main))
    return tuple(int(s) for s in shapes[0]) if shapes else None
