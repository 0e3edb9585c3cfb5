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

from spikemesh.errors import TargetError


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
        if self.forwarding not in ("phased", "cut_through"):
            raise TargetError(f"noc.forwarding = {self.forwarding!r} is not a forwarding mode", node="noc",
                              needed="'phased' or 'cut_through'", available=repr(self.forwarding),
                              hint="set [noc] forwarding = \"phased\" or \"cut_through\"")


@dataclass(frozen=True)
class EnergyTable:
    """Energy per action in pJ and static power in mW. ``sources`` maps each field name to its citation (a value
    starting with "assumed" is a modelling choice, not a published figure). ``router_hop_pj`` is charged per flit
    traversing an east/west link (and a north/south one unless ``router_hop_ns_pj`` is set); ``packet_pj`` per
    packet injected (a spike leaving its core); ``interchip_bit_pj`` per bit crossing a chip border."""

    synop_pj: float = 1.0
    neuron_update_pj: float = 1.0
    router_hop_pj: float = 1.0
    interchip_bit_pj: float = 10.0
    synapse_read_bit_pj: float = 0.0
    static_mw: float = 0.0
    router_hop_ns_pj: float | None = None
    packet_pj: float = 0.0
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    #: the priced fields in display order
    FIELDS = ("synop_pj", "synapse_read_bit_pj", "neuron_update_pj", "packet_pj", "router_hop_pj",
              "router_hop_ns_pj", "interchip_bit_pj", "static_mw")

    def rows(self) -> list[tuple[str, float | None, str, str]]:
        """(field, value, source, status) per priced field; status ``"published"`` (a citation), ``"assumed"``
        (a modelling choice, a calibration parameter, or no source given) or ``"n/a"`` (not modelled, not used,
        or included in another field)."""
        out = []
        for f in self.FIELDS:
            src = self.sources.get(f, "")
            if getattr(self, f) is None:
                src = src or "not set: north-south hops cost router_hop_pj"
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
