"""Targets as data.

A ``Target`` describes hardware: a grid of chips, a grid of cores per chip, per-core resources (possibly
different per core, as on Speck), router/link parameters and an energy table with sources. Stages ask the
target for resources, costs and rules; no stage branches on a target's name.

Units: memory in bits unless a field says entries; latency in cycles; energy in pJ per action; power in mW;
clock in Hz.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import spikemesh.checks as checks
from spikemesh.errors import TargetError

#: target families (spikemesh.backends.FAMILIES maps each to its stage list; tests/test_targets.py checks they agree)
FAMILIES = ("mesh", "speck", "crossbar", "trainer")

#: every feature name a target may list: the IR's neuron kinds (ir.neurons.KINDS, spelled out so that reading a
#: target file does not import NumPy; tests/test_targets.py checks they agree) and the capabilities of the Target
#: docstring
KNOWN_FEATURES = frozenset({"IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator", "reset_zero", "reset_subtract",
                            "reset_none", "refractory", "delay", "multicast", "recurrence", "partial_sums",
                            "shared_kernels", "training", "input_cores"})
#: most neurons, axons per core and most bits of synapse memory per core
MAX_PER_CORE = 2**31 - 1
MAX_SYNAPSE_BITS = 2**48


def _int(obj: object, field: str, section: str, lo: int, hi: int | None = None) -> None:
    """Check the integer field ``field`` of a spec dataclass (errors name it as the TOML file spells it)."""
    v = getattr(obj, field)
    if v is None and field.endswith("_entries"):  # an optional limit (None: does not apply)
        return
    object.__setattr__(obj, field, checks.integer(v, f"{section}.{field}", None, TargetError, lo=lo, hi=hi))


@dataclass(frozen=True)
class CoreSpec:
    """Resources of one core.

    ``axons`` counts distinct presynaptic sources a core can receive (not synapses). ``synapse_bits`` is
    the synapse memory in bits. Speck-style cores also set the three ``*_entries`` memories (counted in
    entries as sinabs' memory_summary does); a value of None means the limit does not apply.
    """

    neurons: int
    axons: int
    synapse_bits: int
    weight_bits: int = 8
    state_bits: int = 16
    kernel_entries: int | None = None
    neuron_entries: int | None = None
    bias_entries: int | None = None

    def __post_init__(self) -> None:
        _int(self, "neurons", "core", 1, MAX_PER_CORE)
        _int(self, "axons", "core", 1, MAX_PER_CORE)
        _int(self, "synapse_bits", "core", 0, MAX_SYNAPSE_BITS)
        _int(self, "weight_bits", "core", 1, 32)
        _int(self, "state_bits", "core", 2, 62)
        for name in ("kernel_entries", "neuron_entries", "bias_entries"):
            _int(self, name, "core", 0, MAX_SYNAPSE_BITS)


@dataclass(frozen=True)
class NocSpec:
    """Router and link parameters. ``table_entries`` is the routing-table size limit per router (None: no
    limit); ``virtual_channels`` per physical link. ``forwarding``: how a core that forwards within a step
    (partial-sum core) uses the NoC — ``"phased"``: it absorbs its inputs into core memory and sends its sums
    from its own output queue after integrating (phase-synchronous chips such as Tianjic, Pei et al.,
    Nature 2019; what the ``cycle`` engine models), so the certificate checks that the core-level phase order is
    acyclic; ``"cut_through"``: it may hold its input channel while its output is stalled, so the certificate adds
    relay edges (its ejection channel → its injection channel: the consumption-channel dependency of wormhole
    multicast, Boppana, Chalasani and Raghavendra, IEEE TPDS 1998)."""

    hop_cycles: int = 1
    link_flits_per_cycle: int = 1
    buffer_flits: int = 4
    interchip_hop_cycles: int = 20
    table_entries: int | None = None
    virtual_channels: int = 1
    forwarding: str = "phased"

    def __post_init__(self) -> None:
        _int(self, "hop_cycles", "noc", 1, 2**20)
        _int(self, "link_flits_per_cycle", "noc", 1, 2**20)
        _int(self, "buffer_flits", "noc", 1, 2**20)
        _int(self, "interchip_hop_cycles", "noc", 0, 2**20)
        _int(self, "table_entries", "noc", 1, 2**31 - 1)
        _int(self, "virtual_channels", "noc", 1, 64)
        if self.forwarding not in ("phased", "cut_through"):
            raise TargetError(f"noc.forwarding = {self.forwarding!r} is not a forwarding mode", node="noc",
                              needed="'phased' or 'cut_through'", available=repr(self.forwarding),
                              hint="set [noc] forwarding = \"phased\" or \"cut_through\"")


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action in pJ and static power in mW. ``sources`` maps each field name to its citation (a value
    starting with "assumed" is a modelling choice, not a published figure). ``router_hop_pj`` is charged per flit
    traversing an east/west link (and a north/south one unless ``router_hop_ns_pj`` is set); ``packet_pj`` per
    packet injected (a spike leaving its core); ``interchip_bit_pj`` per bit crossing a chip border. With
    ``neuron_update_active_pj`` set, an *active* neuron update (the neuron receives a synaptic event or fires in
    that step) costs it and every other update ``neuron_update_pj``; None: every update costs ``neuron_update_pj``
    (spikemesh/simulator/activity.py counts active updates)."""

    synop_pj: float = 1.0
    neuron_update_pj: float = 1.0
    router_hop_pj: float = 1.0
    interchip_bit_pj: float = 10.0
    synapse_read_bit_pj: float = 0.0
    static_mw: float = 0.0
    router_hop_ns_pj: float | None = None
    packet_pj: float = 0.0
    neuron_update_active_pj: float | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    #: optional fields (None: the action costs the field in the value)
    OPTIONAL = {"router_hop_ns_pj": "router_hop_pj", "neuron_update_active_pj": "neuron_update_pj"}

    def __post_init__(self) -> None:
        for f in ("synop_pj", "neuron_update_pj", "router_hop_pj", "interchip_bit_pj", "synapse_read_bit_pj",
                  "static_mw", "packet_pj", "router_hop_ns_pj", "neuron_update_active_pj"):
            if getattr(self, f) is None and f in self.OPTIONAL:  # e.g. north-south hops cost router_hop_pj
                continue
            object.__setattr__(self, f, checks.real(getattr(self, f), f"energy.{f}", None, TargetError, lo=0.0,
                                                    hi=1e15))
        checks.mapping(self.sources, "energy.sources", None, TargetError)

    #: the priced fields in display order
    FIELDS = ("synop_pj", "synapse_read_bit_pj", "neuron_update_pj", "neuron_update_active_pj", "packet_pj",
              "router_hop_pj", "router_hop_ns_pj", "interchip_bit_pj", "static_mw")

    def rows(self) -> list[tuple[str, float | None, str, str]]:
        """(field, value, source, status) per priced field; status ``"published"`` (a citation), ``"assumed"``
        (a modelling choice, a calibration parameter, or no source given) or ``"n/a"`` (not modelled, not used,
        or included in another field)."""
        out = []
        for f in self.FIELDS:
            src = self.sources.get(f, "")
            if getattr(self, f) is None:
                src = src or {"router_hop_ns_pj": "not set: north-south hops cost router_hop_pj",
                              "neuron_update_active_pj": "not set: active updates cost neuron_update_pj"}[f]
            low = src.lower()
            if not src or low.startswith(("assumed", "calibration")):
                status = "assumed"
            elif low.startswith(("not ", "included", "single-chip")):
                status = "n/a"
            else:
                status = "published"
            out.append((f, getattr(self, f), src or "assumed: no source given", status))
        return out


@dataclass(frozen=True)
class Target:
    """A neuromorphic target. ``family`` is one of "mesh", "speck", "crossbar", "trainer".

    ``cores`` optionally lists per-core specs (heterogeneous chips such as Speck, in core-index order
    within a chip); otherwise every core uses ``core``. ``features`` lists what the cores support:
    neuron kinds ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "Integrator"), "reset_zero", "reset_subtract",
    "refractory", "delay", "partial_sums", "multicast", "recurrence", and "input_cores" (graph inputs are replayed
    by source cores on the mesh instead of streamed from the host at chip (0, 0) router (0, 0)). ``extra`` holds
    family-specific sections (e.g. crossbar array parameters, trainer engines) as plain dicts.
    """

    name: str
    family: str = "mesh"
    chips_x: int = 1
    chips_y: int = 1
    cores_x: int = 1
    cores_y: int = 1
    core: CoreSpec = field(default_factory=lambda: CoreSpec(256, 256, 256 * 256 * 8))
    cores: tuple[CoreSpec, ...] | None = None
    clock_hz: float = 1e8
    noc: NocSpec = field(default_factory=NocSpec)
    energy: EnergyTable = field(default_factory=EnergyTable)
    features: frozenset[str] = frozenset()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    description: str = ""

    def __post_init__(self) -> None:
        E = TargetError
        checks.name(self.name, "target name", E)
        checks.choice(self.family, FAMILIES, "target family", self.name, E,
                      hint="family is one of the compiler's families (docs/targets.md)")
        for f, label in (("chips_x", "chips.x"), ("chips_y", "chips.y"), ("cores_x", "chip.cores_x"),
                         ("cores_y", "chip.cores_y")):
            object.__setattr__(self, f, checks.integer(getattr(self, f), label, self.name, E, lo=1,
                                                       hi=checks.MAX_CORES))
        if self.n_cores > checks.MAX_CORES:
            raise E("the target has too many cores", node=self.name, needed=f"<= {checks.MAX_CORES:,} cores",
                    available=f"{self.chips_x}x{self.chips_y} chips x {self.cores_x}x{self.cores_y} cores = "
                              f"{self.n_cores:,}", hint="use a smaller chip grid (NAME:AxB)")
        if not isinstance(self.core, CoreSpec):
            raise E("core must be a CoreSpec", node=self.name, available=type(self.core).__name__)
        if self.cores is not None:
            if not isinstance(self.cores, tuple | list) or not all(isinstance(c, CoreSpec) for c in self.cores):
                raise E("cores must be a list of CoreSpec", node=self.name)
            object.__setattr__(self, "cores", tuple(self.cores))
            if len(self.cores) != self.cores_per_chip:
                raise E("[[cores]] must list one entry per core of a chip", node=self.name,
                        needed=self.cores_per_chip, available=len(self.cores),
                        hint="set chip.cores_x * chip.cores_y to the number of [[cores]] entries")
        object.__setattr__(self, "clock_hz", checks.real(self.clock_hz, "clock_hz", self.name, E, lo=0.0,
                                                         hi=1e13, lo_open=True))
        if not isinstance(self.noc, NocSpec) or not isinstance(self.energy, EnergyTable):
            raise E("noc and energy must be a NocSpec and an EnergyTable", node=self.name)
        if isinstance(self.features, str) or not isinstance(self.features, set | frozenset | tuple | list):
            raise E("features must be a list of feature names", node=self.name, needed='e.g. ["LIF", "delay"]',
                    available=repr(self.features))
        feats = frozenset(self.features)
        bad = sorted(map(str, feats - KNOWN_FEATURES))
        if bad:
            raise E(f"unknown feature {bad[0]!r} in features", node=self.name,
                    needed="some of " + ", ".join(sorted(KNOWN_FEATURES)), available=bad[0],
                    hint="see docs/targets.md (Features)")
        object.__setattr__(self, "features", feats)
        checks.mapping(self.extra, "extra", self.name, E)
        if not isinstance(self.description, str):
            raise E("description must be text", node=self.name, available=type(self.description).__name__)

    @property
    def cores_per_chip(self) -> int:
        return self.cores_x * self.cores_y

    @property
    def n_chips(self) -> int:
        return self.chips_x * self.chips_y

    @property
    def n_cores(self) -> int:
        return self.n_chips * self.cores_per_chip

    def core_spec(self, index: int) -> CoreSpec:
        """Spec of global core ``index`` (chip-major: index = chip * cores_per_chip + local)."""
        if self.cores is None:
            return self.core
        return self.cores[index % self.cores_per_chip]

    def with_chips(self, x: int, y: int) -> Target:
        """The same target with an x-by-y grid of chips."""
        return replace(self, chips_x=x, chips_y=y, name=f"{self.name.split(':')[0]}:{x}x{y}")

    def supports(self, feature: str) -> bool:
        return feature in self.features
