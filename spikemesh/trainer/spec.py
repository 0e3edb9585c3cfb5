"""The multi-core SNN training architecture (``trainer`` preset): FP / BP / WG engines per core.

Facts: Li et al., "A High Energy-Efficiency Multi-core Neuromorphic Architecture for Deep SNN Training",
arXiv:2412.05302 (abstract: FP, BP and WG engines per core, 1.05 TFLOPS/W @ FP16, 28 nm, 20-core training and
5-worker federated learning on FPGAs). Its engine throughputs, buffer sizes, clock and NoC are not published, so
those fields are stated assumptions. Per-action energies: Horowitz, "Computing's energy problem (and what we can
do about it)", ISSCC 2014 (45 nm), and the ISAAC-derived router and chip-link energies of Accelergy's
hwcomponents-library (isaac.py). Node scaling of the 45 nm figures to 28 nm uses E ∝ C·V² with C ∝ node and
V 1.0 → 0.9 V: × (28/45)·0.81 = 0.504 (derived; the exponent is an assumption).

The family section lives in ``Target.extra["trainer"]`` (TOML: ``[extra.trainer]``, docs/targets.md) and is
read with ``trainer_spec(target)`` into a ``TrainerSpec``; unknown keys are errors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from spikemesh.errors import TargetError
from spikemesh.target.model import CoreSpec, EnergyTable, NocSpec, Target

NODE_SCALE_45_TO_28 = (28 / 45) * 0.9 ** 2  # E ∝ C·V² (derived; the exponent is an assumption)


@dataclass(frozen=True)
class TrainerSpec:
    """Per-core engines, memories and the technology table of a training target.

    Throughputs in operations per cycle per core; memory in bytes; energy in pJ. ``value_bits``: number format
    of weights, membrane potentials and δ (16 = FP16); ``accum_bits``: weight-gradient accumulators.
    ``sram_split``: fractions of the per-core SRAM for weights+gradient accumulators ("params") and for the
    per-step state trace H and S ("state"); the rest buffers spikes and δ of one step. ``dataflow``: how a core
    reuses a weight tile that does not fit its SRAM (chip_cost.py): "sample_serial", "batch_stationary", "step_major"
    or "auto" (the faster of the first two, per mini-batch).
    """

    fp_ops_per_cycle: int = 64
    bp_macs_per_cycle: int = 32
    wg_ops_per_cycle: int = 64
    neuron_ops_per_cycle: int = 16
    value_bits: int = 16
    accum_bits: int = 32
    number_format: str = "fp16"
    sram_bytes: int = 512 * 1024
    sram_split: dict[str, float] = field(default_factory=lambda: {"params": 0.5, "state": 0.4})
    dram_bytes_per_s: float = 25.6e9
    dram_pj_per_byte: float = 1300.0 / 8
    add_pj: float = 0.4 * NODE_SCALE_45_TO_28
    mul_pj: float = 1.1 * NODE_SCALE_45_TO_28
    cmp_pj: float = 0.4 * NODE_SCALE_45_TO_28
    sram_pj_per_bit: float = 20.0 / 64 * NODE_SCALE_45_TO_28
    noc_pj_per_bit_hop: float = 20.74 / 256 * (28 / 32)
    noc_link_bits_per_cycle: int = 64
    interchip_bytes_per_s: float = 1.0e9
    interchip_pj_per_bit: float = 26.0 / 128
    overlap: bool = True
    dataflow: str = "auto"
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for f in ("fp_ops_per_cycle", "bp_macs_per_cycle", "wg_ops_per_cycle", "neuron_ops_per_cycle", "value_bits",
                  "accum_bits", "sram_bytes", "noc_link_bits_per_cycle"):
            if getattr(self, f) < 1:
                raise TargetError(f"trainer.{f} must be positive", node="trainer", needed=">= 1",
                                  available=getattr(self, f))
        if self.dataflow not in ("auto", "sample_serial", "batch_stationary", "step_major"):
            raise TargetError("unknown trainer.dataflow", node="trainer",
                              needed="auto, sample_serial, batch_stationary or step_major", available=self.dataflow)
        split = dict(self.sram_split)
        if set(split) - {"params", "state"} or sum(split.values()) > 1.0 or min(split.values(), default=0) < 0:
            raise TargetError("trainer.sram_split needs 'params' and 'state' fractions summing to <= 1",
                              node="trainer", needed="{params: f, state: f}", available=split)


def trainer_spec(t: Target) -> TrainerSpec:
    """The TrainerSpec of a target (its ``extra["trainer"]`` section over the defaults)."""
    if t.family != "trainer":
        raise TargetError("not a training target", node=t.name, needed="family 'trainer'", available=t.family,
                          hint="use --target trainer or a TOML file with family = \"trainer\"")
    d = dict(t.extra.get("trainer", {}))
    allowed = {f.name for f in fields(TrainerSpec)}
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise TargetError(f"unknown key {unknown[0]!r} in [extra.trainer]", node=t.name,
                          needed="one of " + ", ".join(sorted(allowed - {"sources"})), available=unknown[0],
                          hint="see docs/targets.md (trainer section)")
    try:
        return TrainerSpec(**d)
    except TypeError as e:
        raise TargetError(f"bad value in [extra.trainer]: {e}", node=t.name, hint="see docs/targets.md") from e


SOURCES = {
    "fp_ops_per_cycle": "assumed: engine widths of arXiv:2412.05302 are not published",
    "bp_macs_per_cycle": "assumed (not published); half the FP width since BP does FP16 multiplies",
    "wg_ops_per_cycle": "assumed (not published); WG does spike-gated accumulates (H2Learn arXiv:2107.11746, "
                        "SATA TCAD 2022)",
    "neuron_ops_per_cycle": "assumed",
    "value_bits": "FP16: the published 1.05 TFLOPS/W @ FP16 (arXiv:2412.05302)",
    "accum_bits": "assumed FP32 accumulation ('mixed-precision FP16 gradient computation': a secondary summary of "
                  "arXiv:2412.05302)",
    "sram_bytes": "assumed (buffer sizes of arXiv:2412.05302 not published)",
    "dram_bytes_per_s": "assumed (one LPDDR4 x32 channel class)",
    "dram_pj_per_byte": "DRAM 64-bit access 1.3 nJ (lower end), Horowitz ISSCC 2014 (secondary citation)",
    "add_pj": "FP16 add 0.4 pJ @45 nm (Horowitz ISSCC 2014, secondary citation) x 0.504 node scaling to 28 nm",
    "mul_pj": "FP16 mult 1.1 pJ @45 nm (Horowitz ISSCC 2014, secondary citation) x 0.504",
    "cmp_pj": "taken equal to an FP16 add (assumed)",
    "sram_pj_per_bit": "SRAM 64-bit read 20 pJ from a 32 KB array @45 nm (Horowitz ISSCC 2014, secondary "
                       "citation) / 64 x 0.504",
    "noc_pj_per_bit_hop": "router 256-bit 20.74 pJ @32 nm (ISAAC-derived, Accelergy hwcomponents-library "
                          "isaac.py) / 256 x 28/32",
    "interchip_pj_per_bit": "chip link 26 pJ / 128 b (65 nm, ISAAC-derived, Accelergy hwcomponents-library isaac.py)",
    "dataflow": "assumed: the dataflows of arXiv:2412.05302 are not published; 'auto' picks per mini-batch",
    "interchip_bytes_per_s": "assumed (FPGA-to-FPGA link of the 5-worker federated set-up of arXiv:2412.05302, "
                             "not published)",
}


def trainer() -> Target:
    """20 training cores (5x4 mesh: the 20-core set-up of arXiv:2412.05302), FP16, 28 nm energy table."""
    spec = TrainerSpec(sources=SOURCES)
    extra = {k: v for k, v in asdict(spec).items() if k != "sources"}
    return Target(
        name="trainer",
        family="trainer",
        cores_x=5,
        cores_y=4,
        core=CoreSpec(neurons=4096, axons=65536, synapse_bits=int(spec.sram_bytes * 8 * spec.sram_split["params"]),
                      weight_bits=16, state_bits=16),
        clock_hz=200e6,
        noc=NocSpec(hop_cycles=1, link_flits_per_cycle=1, buffer_flits=4, interchip_hop_cycles=20),
        energy=EnergyTable(
            synop_pj=spec.add_pj, neuron_update_pj=spec.mul_pj + 2 * spec.add_pj,
            router_hop_pj=spec.noc_pj_per_bit_hop * spec.noc_link_bits_per_cycle,
            interchip_bit_pj=spec.interchip_pj_per_bit, synapse_read_bit_pj=spec.sram_pj_per_bit, static_mw=0.0,
            sources={"synop_pj": SOURCES["add_pj"], "neuron_update_pj": "FP16 mul + 2 adds (this table)",
                     "router_hop_pj": SOURCES["noc_pj_per_bit_hop"],
                     "interchip_bit_pj": SOURCES["interchip_pj_per_bit"],
                     "synapse_read_bit_pj": SOURCES["sram_pj_per_bit"], "static_mw": "not modelled"}),
        features=frozenset({"IF", "LIF", "LI", "Integrator", "reset_zero", "reset_subtract", "delay", "recurrence",
                            "multicast", "training"}),
        extra={"trainer": extra, "clock_source": "assumed 200 MHz (clock of arXiv:2412.05302 not published)"},
        description="multi-core SNN training engine (FP/BP/WG per core), 20 cores, FP16, 28 nm table "
                    "(arXiv:2412.05302 architecture; engine sizes assumed)",
    )


def spec_dict(t: Target) -> dict[str, Any]:
    """The effective trainer section (defaults filled in), JSON-ready, for reports."""
    return {k: v for k, v in asdict(trainer_spec(t)).items() if k != "sources"}
