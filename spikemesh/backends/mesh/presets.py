"""Synchronous multi-core mesh presets: a Tianjic-like chip and a Loihi-like chip.

Chip figures: Tianjic (Pei et al., "Towards artificial general intelligence with hybrid Tianjic chip architecture",
Nature 572, 2019; Deng et al., "Tianjic: a unified and scalable chip bridging spike-based and continuous neural
computation", IEEE JSSC 55(8), 2020) and Loihi (Davies et al., "Loihi: a neuromorphic manycore processor with
on-chip learning", IEEE Micro 38(1), 2018). Loihi's per-action energies are the chip's own, measured (Davies et
al. 2018, Table 2); Tianjic publishes none, so its table uses generic circuit figures (Horowitz, "Computing's
energy problem (and what we can do about it)", ISSCC 2014, 45 nm; SpikeSim, Moitra et al., IEEE TCAD 2023, 65 nm).
Each EnergyTable names its source per field; values marked "assumed" are modelling choices, not published figures
(``spikemesh target show NAME`` prints the table).
"""

from __future__ import annotations

from spikemesh.target.model import CoreSpec, EnergyTable, NocSpec, Target

_MESH_FEATURES = frozenset(
    {"IF", "LIF", "CubaLIF", "LI", "Integrator", "reset_zero", "reset_subtract", "reset_none", "refractory",
     "delay", "multicast", "recurrence", "partial_sums"}
)


def tianjic() -> Target:
    """Tianjic-like chip: 156 FCores in a 12x13 mesh, 256 neurons and 256 axons per core, ~22 KB synapse SRAM
    per core, 300 MHz synchronous (Pei et al., Nature 2019; Deng et al., IEEE JSSC 2020)."""
    energy = EnergyTable(
        synop_pj=0.3,
        neuron_update_pj=1.27,
        router_hop_pj=1.0,
        interchip_bit_pj=10.0,
        synapse_read_bit_pj=10.0 / 64,
        static_mw=0.0,
        sources={
            "synop_pj": "8b mult 0.2 pJ + 32b add 0.1 pJ, 45 nm, Horowitz ISSCC 2014",
            "neuron_update_pj": "LIF neuron update 1.27 pJ, 65 nm, SpikeSim (Moitra et al., IEEE TCAD 2023)",
            "router_hop_pj": "assumed: no per-hop figure published for Tianjic",
            "router_hop_ns_pj": "not set: north-south hops cost router_hop_pj",
            "packet_pj": "assumed: 0 (no per-spike figure published for Tianjic)",
            "interchip_bit_pj": "assumed: 10x an on-chip hop per bit",
            "synapse_read_bit_pj": "8 KB SRAM 64-bit read 10 pJ, 45 nm, Horowitz ISSCC 2014",
            "static_mw": "not modelled: Tianjic's 400 mW average is total, not static, power",
        },
    )
    return Target(
        name="tianjic",
        family="mesh",
        cores_x=12,
        cores_y=13,
        core=CoreSpec(neurons=256, axons=256, synapse_bits=22 * 1024 * 8, weight_bits=8, state_bits=16),
        clock_hz=300e6,
        noc=NocSpec(hop_cycles=1, link_flits_per_cycle=1, buffer_flits=4, interchip_hop_cycles=20),
        energy=energy,
        features=_MESH_FEATURES,
        description="Tianjic-like synchronous mesh: 12x13 cores, 256 neurons / 256 axons / 22 KB per core, 300 MHz",
    )


def loihi() -> Target:
    """Loihi-like chip: 128 neurocores, 1,024 compartments per core, 16 MB synaptic memory per chip
    (Davies et al., IEEE Micro 2018). The 16x8 core grid and 4,096 fan-in axons per core are assumed layouts."""
    table2 = "Davies et al., IEEE Micro 38(1) 2018, Table 2 (14 nm)"
    energy = EnergyTable(
        synop_pj=23.6,
        neuron_update_pj=52.0,
        neuron_update_active_pj=81.0,
        router_hop_pj=3.0,
        router_hop_ns_pj=4.0,
        packet_pj=1.7,
        interchip_bit_pj=10.0,
        synapse_read_bit_pj=0.0,
        static_mw=0.0,
        sources={
            "synop_pj": f"synaptic spike op (min) 23.6 pJ, {table2}",
            "neuron_update_pj": f"inactive neuron update 52 pJ, {table2}: a neuron that neither receives a "
                                "synaptic event nor fires in the step (it only decays)",
            "neuron_update_active_pj": f"active neuron update 81 pJ, {table2}: a neuron that receives at least one "
                                       "synaptic event or fires in the step (the table labels the two figures "
                                       "active / inactive without a formal definition; this split is the model's)",
            "router_hop_pj": f"energy per tile hop, east-west 3.0 pJ, {table2}",
            "router_hop_ns_pj": f"energy per tile hop, north-south 4.0 pJ, {table2}",
            "packet_pj": f"within-tile spike energy 1.7 pJ, {table2}",
            "interchip_bit_pj": "assumed: 10 pJ per bit (no chip-to-chip figure in Table 2)",
            "synapse_read_bit_pj": "included in synop_pj (the synaptic op reads the synapse)",
            "static_mw": "not modelled",
        },
    )
    return Target(
        name="loihi",
        family="mesh",
        cores_x=16,
        cores_y=8,
        core=CoreSpec(neurons=1024, axons=4096, synapse_bits=16 * 1024 * 1024 * 8 // 128, weight_bits=8,
                      state_bits=24),
        clock_hz=1e8,
        noc=NocSpec(hop_cycles=1, link_flits_per_cycle=1, buffer_flits=8, interchip_hop_cycles=40),
        energy=energy,
        features=_MESH_FEATURES,
        description="Loihi-like mesh: 128 cores per chip, 1,024 neurons per core, 16 MB synapse memory per chip",
    )
