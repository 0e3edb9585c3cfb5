"""Adapters for one torch module: a layer → an IR operator, a peer framework's neuron → an IR neuron.

Modules are recognised by class name and top-level package along their MRO; peer frameworks are never imported
here. Layers: Linear, Conv1d/Conv2d, AvgPool2d, sinabs SumPool2d, Flatten, BatchNorm1d/2d (folded into the
preceding Linear/Conv by the builder), Dropout / Identity (dropped).
Neurons follow docs/semantics.md §6; the facts come from the neuron classes' source in snnTorch (``Leaky``,
``Synaptic``, ``RLeaky``), SpikingJelly (``spikingjelly.activation_based.neuron``) and sinabs (``sinabs.layers``):

- snnTorch ``Leaky``: LIF, β = beta, gain 1, fires on ``mem > threshold``. Subtract reset with the default
  ``reset_delay=True`` is ``after_decay`` (U[t] = βU[t−1] + I[t] − S[t−1]θ). Zero reset: snnTorch zeroes the
  membrane *before* the next decay (``mem = (1 − reset)·mem; mem = β·mem + I``), which is ``before_decay``
  (same spikes; snnTorch's stored trace shows the un-reset value on the spike step). ``reset_delay=False``:
  ``before_decay``.
- snnTorch ``Synaptic``: CubaLIF α = alpha, β = beta; its zero reset is U[t] = (1 − S[t−1])(βU + I_syn)
  → ``after_decay``; subtract → ``after_decay``. ``RLeaky``: LIF plus a recurrent projection ``Delay(1)`` →
  its ``recurrent`` Linear/Conv2d (or the one-to-one V); zero reset → ``after_decay`` (its ``base − reset·base``).
- SpikingJelly ``IFNode`` / ``LIFNode``: fires on ``v >= v_threshold``; ``v_reset=None`` → subtract, else zero
  to v_reset; LIF β = 1 − 1/τ, gain = 1/τ (``decay_input``) or 1, leak = v_reset/τ; ``before_decay``.
- sinabs ``IAF`` / ``IAFSqueeze`` / ``LIF``: ``>=``, MembraneSubtract → subtract, MembraneReset → zero,
  ``min_v_mem`` → v_min; LIF β = alpha_mem, gain = 1 − β with ``norm_input``; a synaptic τ gives CubaLIF with
  α = syn_gain = alpha_syn. MultiSpike (the default) equals the IR only while v < 2θ: warned.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from spikemesh.errors import FrontendError
from spikemesh.frontend.common import warn
from spikemesh.ir.neurons import Neuron
from spikemesh.ir.operators import AvgPool2d, BatchNorm, Conv, Delay, Dense, Op, Reshape, Scale, SumPool2d

Shape = tuple[int, ...]


def _np(t: Any) -> np.ndarray:
    if hasattr(t, "detach"):
        return t.detach().cpu().double().numpy()
    return np.asarray(t, dtype=np.float64)


def _classes(m: Any) -> list[tuple[str, str]]:
    """(top-level package, class name) of every class in ``type(m).__mro__``."""
    return [(c.__module__.split(".")[0], c.__name__) for c in type(m).__mro__]


def is_class(m: Any, pkg: str, *names: str) -> bool:
    """True when a class in ``m``'s MRO is one of ``names`` from top-level package ``pkg``."""
    return any(p == pkg and n in names for p, n in _classes(m))


NEURONS = {("snntorch", "Leaky"), ("snntorch", "Synaptic"), ("snntorch", "RLeaky"),
           ("spikingjelly", "LIFNode"), ("spikingjelly", "IFNode"),
           ("sinabs", "IAF"), ("sinabs", "IAFSqueeze"), ("sinabs", "LIF"), ("sinabs", "LIFSqueeze")}
LAYERS = {"Linear", "Conv1d", "Conv2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Flatten", "Dropout", "Dropout2d",
          "Identity", "SumPool2d"}


#: neuron converters users registered: class -> converter(module, name, shape) -> Neuron or (Neuron, ops | None)
CUSTOM_NEURONS: dict[type, Callable[..., Any]] = {}

#: packages whose modules are spiking neurons when they are not known layers (an unknown one is an error)
NEURON_PACKAGES = ("snntorch", "spikingjelly", "sinabs", "norse", "lava", "spyx", "rockpool", "bindsnet")
#: class-name words of neuron modules (an unknown module named like this is an error, not traced into)
NEURON_WORDS = re.compile(r"(LIF|IAF|IF(Node|Cell)?$|Leaky|Neuron|Spik|Node$|Synaptic|Izhikevich|AdEx|ALIF|Cuba)")


def register_neuron(cls: type, converter: Callable[..., Any]) -> None:
    """Teach ``from_torch`` a neuron class of your own: ``converter(module, name, shape)`` returns the IR neuron
    (a ``spikemesh.ir.neurons.Neuron``, e.g. ``LIF(beta=..., threshold=...)``) for an instance of ``cls`` (or a
    subclass) whose output has ``shape`` (without the batch axis), or ``(neuron, recurrent_ops)`` with the operator
    chain of a recurrent projection. One call to the module is one time step."""
    if not isinstance(cls, type) or not callable(converter):
        raise FrontendError("register_neuron needs a class and a callable", node=str(cls),
                            hint="register_neuron(MyNeuron, lambda m, name, shape: LIF(beta=m.beta))")
    CUSTOM_NEURONS[cls] = converter


def unregister_neuron(cls: type) -> None:
    """Forget a converter added with ``register_neuron``."""
    CUSTOM_NEURONS.pop(cls, None)


def _custom(m: Any) -> Callable[..., Any] | None:
    for c in type(m).__mro__:
        if c in CUSTOM_NEURONS:
            return CUSTOM_NEURONS[c]
    return None


def recognised_neurons() -> list[str]:
    """The neuron classes ``from_torch`` converts: built-in adapters, then registered ones."""
    names = [f"{pkg}.{name}" for pkg, name in sorted(NEURONS)]
    return names + [f"{c.__module__}.{c.__qualname__}" for c in CUSTOM_NEURONS]


def looks_like_neuron(m: Any) -> bool:
    """An unknown module from a spiking framework, or named like a neuron (not a torch layer or container)."""
    if _custom(m) is not None:
        return False
    pkg, name = _classes(m)[0]
    if pkg == "torch" or name in ("Sequential", "ModuleList", "ModuleDict"):
        return False
    return pkg in NEURON_PACKAGES or bool(NEURON_WORDS.search(name))


def unknown_neuron_error(m: Any, name: str) -> FrontendError:
    cls = type(m)
    full = f"{cls.__module__}.{cls.__qualname__}"
    return FrontendError(f"unknown neuron module {full}", node=name or "<module>",
                         needed="one of " + ", ".join(recognised_neurons()), available=full,
                         hint="register a converter: spikemesh.register_neuron(cls, fn(module, name, shape) -> Neuron)")


#: hint for a layer type the IR cannot express (its projections are affine: docs/semantics.md)
_MAXPOOL = ("max pooling is not linear and neuromorphic cores only sum weighted inputs; replace it by nn.AvgPool "
            "or sinabs SumPool2d and retrain or fine-tune")
NONLINEAR_LAYER_HINTS = {"MaxPool1d": _MAXPOOL, "MaxPool2d": _MAXPOOL}


def unsupported_module_error(m: Any, name: str, hint: str) -> FrontendError:
    """The error for a module no converter handles (the layer-specific hint when there is one)."""
    cls = type(m)
    return FrontendError(f"unsupported module {cls.__module__}.{cls.__name__}", node=name or "<module>",
                         hint=NONLINEAR_LAYER_HINTS.get(cls.__name__, hint))


def module_kind(m: Any) -> str | None:
    """'neuron', 'layer', 'unknown_neuron' (see ``looks_like_neuron``) or None (a container / unknown)."""
    if _custom(m) is not None:
        return "neuron"
    for pkg, name in _classes(m):
        if (pkg, name) in NEURONS:
            return "neuron"
    for pkg, name in _classes(m):
        if pkg in ("torch", "sinabs") and name in LAYERS:
            return "layer"
    if looks_like_neuron(m):
        return "unknown_neuron"
    return None


def layer_op(m: Any, name: str, shape: Shape, notes: list[str]) -> Op | None:
    """The IR operator of a torch layer on input ``shape`` (None for layers that are dropped)."""
    cls = {n for _, n in _classes(m)}
    if "Linear" in cls:
        return Dense(_np(m.weight), None if m.bias is None else _np(m.bias))
    if "Conv1d" in cls or "Conv2d" in cls:
        if getattr(m, "padding_mode", "zeros") != "zeros":
            raise FrontendError(f"padding_mode={m.padding_mode!r} is not supported", node=name, hint="use zeros")
        pad = m.padding
        if isinstance(pad, str):
            if pad == "valid":
                pad = 0
            else:
                ext = [d * (k - 1) for k, d in zip(m.kernel_size, m.dilation)]
                if any(e % 2 for e in ext):
                    raise FrontendError("padding='same' is asymmetric for this kernel", node=name)
                pad = tuple(e // 2 for e in ext)
        return Conv(_np(m.weight), None if m.bias is None else _np(m.bias), m.stride, pad, m.dilation, m.groups)
    if "SumPool2d" in cls:
        return SumPool2d(m.kernel_size, m.stride if m.stride is not None else m.kernel_size)
    if "AvgPool2d" in cls:
        if m.ceil_mode or not m.count_include_pad or m.divisor_override is not None:
            raise FrontendError("AvgPool2d with ceil_mode, count_include_pad=False or divisor_override is not "
                                "supported", node=name)
        return AvgPool2d(m.kernel_size, m.stride if m.stride is not None else m.kernel_size, m.padding)
    if "BatchNorm1d" in cls or "BatchNorm2d" in cls:
        if m.running_mean is None:
            raise FrontendError("BatchNorm without running statistics cannot be folded", node=name,
                                hint="use track_running_stats=True")
        w = _np(m.weight) if m.weight is not None else np.ones(m.num_features)
        b = _np(m.bias) if m.bias is not None else np.zeros(m.num_features)
        return BatchNorm(_np(m.running_mean), _np(m.running_var), w, b, m.eps)
    if "Flatten" in cls:
        return flatten_op(shape, m.start_dim, m.end_dim, name)
    if cls & {"Dropout", "Dropout2d", "Identity"}:
        return None
    raise AssertionError(name)


def flatten_op(shape: Shape, start: int, end: int, name: str) -> Reshape:
    """torch flatten dims count the batch axis (dim 0); ``shape`` excludes it."""
    nd = len(shape) + 1
    s = start + nd if start < 0 else start
    e = end + nd if end < 0 else end
    if s < 1:
        raise FrontendError("flattening the batch axis is not supported", node=name, hint="use start_dim=1")
    s, e = s - 1, e - 1
    return Reshape((*shape[:s], math.prod(shape[s:e + 1]), *shape[e + 1:]))


def _full(x: Any, shape: Shape, name: str, what: str) -> np.ndarray:
    a = _np(x)
    try:
        return np.broadcast_to(a, shape).copy()
    except ValueError:
        raise FrontendError(f"{what} does not broadcast to the layer shape", node=name, needed=list(shape),
                            available=list(a.shape)) from None


def neuron_of(m: Any, name: str, shape: Shape, notes: list[str]) -> tuple[Neuron, list[Op] | None]:
    """(IR neuron, recurrent op chain or None) for a framework neuron module."""
    conv = _custom(m)
    if conv is not None:
        out = conv(m, name, tuple(shape))
        neuron, ops = out if isinstance(out, tuple) else (out, None)
        if not isinstance(neuron, Neuron):
            raise FrontendError("a registered neuron converter must return a Neuron", node=name,
                                available=type(neuron).__name__, hint="return e.g. spikemesh.ir.LIF(beta=0.9)")
        return neuron, (list(ops) if ops is not None else None)
    if not any((pkg, n) in NEURONS for pkg, n in _classes(m)):
        raise unknown_neuron_error(m, name)
    if is_class(m, "snntorch", "Leaky", "Synaptic", "RLeaky"):
        return _snntorch(m, name, shape, notes)
    if is_class(m, "spikingjelly", "LIFNode", "IFNode"):
        return _spikingjelly(m, name, shape, notes), None
    return _sinabs(m, name, shape, notes), None


def _snntorch(m: Any, name: str, shape: Shape, notes: list[str]) -> tuple[Neuron, list[Op] | None]:
    if getattr(m, "inhibition", False):
        raise FrontendError("snnTorch inhibition is not supported", node=name)
    if getattr(m, "state_quant", False):
        raise FrontendError("snnTorch state_quant is not supported", node=name, hint="quantize with spikemesh")
    if float(getattr(m, "graded_spikes_factor", 1.0)) != 1.0:
        raise FrontendError("graded spikes are not supported", node=name, needed=1.0,
                            available=float(m.graded_spikes_factor))
    mech = m.reset_mechanism
    reset = {"subtract": "subtract", "zero": "zero", "none": "none"}[mech]
    delay = bool(getattr(m, "reset_delay", True))
    kind_cls = next(n for p, n in _classes(m) if p == "snntorch" and n in ("Leaky", "Synaptic", "RLeaky"))
    if not delay or reset == "none":
        timing = "before_decay"
    elif reset == "subtract":
        timing = "after_decay"
    else:  # zero reset: Leaky zeroes before the decay; Synaptic and RLeaky discard the new input (after_decay)
        timing = "before_decay" if kind_cls == "Leaky" else "after_decay"
    beta = np.clip(_full(m.beta, shape, name, "beta"), 0, 1)
    thr = _full(m.threshold, shape, name, "threshold")
    common = {"threshold": thr, "comparison": ">", "reset": reset, "reset_timing": timing}
    if kind_cls == "Synaptic":
        alpha = np.clip(_full(m.alpha, shape, name, "alpha"), 0, 1)
        return Neuron("CubaLIF", alpha=alpha, beta=beta, **common), None
    neuron = Neuron("LIF", beta=beta, **common)
    if kind_cls != "RLeaky":
        return neuron, None
    rec = m.recurrent
    rcls = {n for _, n in _classes(rec)}
    if "Linear" in rcls:
        ops: list[Op] = [Delay(1), Dense(_np(rec.weight), None if rec.bias is None else _np(rec.bias))]
    elif "Conv2d" in rcls:
        ops = [Delay(1), Conv(_np(rec.weight), None if rec.bias is None else _np(rec.bias), rec.stride, rec.padding,
                              rec.dilation, rec.groups)]
    else:
        ops = [Delay(1), Scale(_full(m.V, shape, name, "V"))]
    return neuron, ops


def _spikingjelly(m: Any, name: str, shape: Shape, notes: list[str]) -> Neuron:
    thr = float(m.v_threshold)
    v_reset = m.v_reset
    reset = "subtract" if v_reset is None else "zero"
    vr = 0.0 if v_reset is None else float(v_reset)
    if vr != 0.0:
        warn(f"{name}: SpikingJelly starts the membrane at v_reset={vr}; the IR starts at 0", notes)
    common = {"threshold": thr, "v_reset": vr, "comparison": ">=", "reset": reset, "reset_timing": "before_decay"}
    if is_class(m, "spikingjelly", "IFNode"):
        return Neuron("IF", **common)
    tau = float(m.tau)
    if tau <= 1:
        raise FrontendError("LIFNode tau must be > 1 (steps)", node=name, available=tau)
    if m.decay_input:
        return Neuron("LIF", beta=1 - 1 / tau, gain=1 / tau, leak=vr / tau, **common)
    return Neuron("LIF", beta=1 - 1 / tau, gain=1.0, leak=vr / tau, **common)


def _prop(m: Any, name: str) -> Any:
    v = getattr(m, name)
    return v() if callable(v) else v


def _sinabs(m: Any, name: str, shape: Shape, notes: list[str]) -> Neuron:
    spike_fn = getattr(m.spike_fn, "__name__", type(m.spike_fn).__name__)
    if spike_fn != "SingleSpike":
        warn(f"{name}: sinabs {spike_fn} emits several spikes per step; the IR emits one (equal while v < 2θ)",
             notes)
    rf = type(m.reset_fn).__name__
    if rf == "MembraneSubtract":
        if getattr(m.reset_fn, "subtract_value", None) is not None:
            raise FrontendError("MembraneSubtract with a subtract_value other than the threshold is not supported",
                                node=name)
        reset = "subtract"
    elif rf == "MembraneReset":
        if float(m.reset_fn.reset_value) != 0.0:
            raise FrontendError("MembraneReset with reset_value != 0 is not supported", node=name,
                                available=float(m.reset_fn.reset_value))
        reset = "zero"
    else:
        raise FrontendError(f"sinabs reset {rf} is not supported", node=name)
    thr = _full(m.spike_threshold, shape, name, "spike_threshold")
    v_min = None if m.min_v_mem is None else float(m.min_v_mem)
    common = {"threshold": thr, "comparison": ">=", "reset": reset, "reset_timing": "before_decay", "v_min": v_min}
    beta = _full(_prop(m, "alpha_mem_calculated"), shape, name, "alpha_mem")
    gain = 1.0 - beta if getattr(m, "norm_input", False) else np.ones(shape)
    if getattr(m, "tau_syn", None) is not None:
        a = _full(_prop(m, "alpha_syn_calculated"), shape, name, "alpha_syn")
        return Neuron("CubaLIF", alpha=a, syn_gain=a, beta=beta, gain=gain, **common)
    if np.all(beta == 1.0):
        return Neuron("IF", gain=gain, **common)
    return Neuron("LIF", beta=beta, gain=gain, **common)
