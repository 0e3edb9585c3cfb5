"""Speck (DYNAP-CNN) target: 9 heterogeneous asynchronous SNN cores plus the DVS pre-processing layer.

Facts: the per-core memory table is sinabs' ``DynapcnnConfigBuilder.get_constraints``
(sinabs/backend/dynapcnn/chips/dynapcnn.py); int8 weights and int16 state (sinabs ``discretize.py``); <= 2
destinations per core (sinabs Speck documentation); processor resting power 0.42 mW (Yao et al., "Spike-based
dynamic computing with asynchronous sensing-computing neuromorphic chip", Nat. Commun. 15, 2024,
doi:10.1038/s41467-024-47811-6) and 3.36 µs for one event through 9 layers (Richter et al., "Speck: a smart
event-based vision sensor with a low latency 327K neuron convolutional neuronal network processing pipeline",
arXiv:2304.06793, 2023). No per-SynOp energy is published: ``synop_pj`` is a calibration parameter, stated as such
in its source.
"""

from __future__ import annotations

from spikemesh.target.model import CoreSpec, EnergyTable, NocSpec, Target

#: (kernel entries, neuron entries) per core 0..8 (sinabs get_constraints); bias memory is 1024 entries on every core
KERNEL_ENTRIES = (16 * 1024, 16 * 1024, 16 * 1024, 32 * 1024, 32 * 1024, 64 * 1024, 64 * 1024, 16 * 1024, 16 * 1024)
NEURON_ENTRIES = (64 * 1024, 64 * 1024, 64 * 1024, 32 * 1024, 32 * 1024, 16 * 1024, 16 * 1024, 16 * 1024, 16 * 1024)
BIAS_ENTRIES = 1024


def speck() -> Target:
    """Speck / DYNAP-CNN: 9 cores (3x3 grid for placement purposes; any core reaches any core through the
    central router), each a Conv2d -> IAF -> per-destination SumPool with its own kernel/neuron memory."""
    cores = tuple(
        CoreSpec(neurons=n, axons=1024, synapse_bits=k * 8, weight_bits=8, state_bits=16,
                 kernel_entries=k, neuron_entries=n, bias_entries=BIAS_ENTRIES)
        for k, n in zip(KERNEL_ENTRIES, NEURON_ENTRIES, strict=True)
    )
    energy = EnergyTable(
        synop_pj=10.0,
        neuron_update_pj=0.0,
        router_hop_pj=0.0,
        interchip_bit_pj=0.0,
        synapse_read_bit_pj=0.0,
        static_mw=0.42,
        sources={
            "synop_pj": "calibration parameter: no published per-SynOp energy for Speck",
            "neuron_update_pj": "included in synop_pj: each SynOp reads and writes its neuron (sinabs Speck docs)",
            "router_hop_pj": "included in synop_pj (no figure published)",
            "interchip_bit_pj": "single-chip device",
            "synapse_read_bit_pj": "included in synop_pj",
            "static_mw": "processor resting power 0.42 mW, Yao et al. Nat. Commun. 2024",
        },
    )
    return Target(
        name="speck",
        family="speck",
        cores_x=3,
        cores_y=3,
        core=cores[0],
        cores=cores,
        clock_hz=1e8,
        noc=NocSpec(hop_cycles=1, link_flits_per_cycle=1, buffer_flits=4, interchip_hop_cycles=0),
        energy=energy,
        features=frozenset({"IF", "reset_zero", "reset_subtract", "multicast"}),
        extra={"max_destinations": 2, "event_latency_s": 3.36e-6 / 9, "dvs": {"height": 128, "width": 128,
                                                                               "polarities": 2}},
        description="Speck / DYNAP-CNN: 9 heterogeneous async cores, 16-64Ki kernel / 16-64Ki neuron entries, "
                    "int8 weights, int16 state, 0.42 mW resting",
    )
