"""Memristor-crossbar tile-array targets: presets ``crossbar`` (128x128 arrays), ``crossbar-256`` and
``crossbar-512``, and the ``[extra.crossbar]`` TOML section read by ``crossbar_config``.

Array and peripheral facts: NeuroSim's defaults (DNN+NeuroSim V1.4, ``Inference_pytorch/NeuroSIM/Param.cpp``:
128x128 subarrays, 1 bit/cell, 5-bit ADC, 8 columns per ADC, 10 ns read pulse), IBM aihwkit's PCM range
(``PCMLikeNoiseModel`` with ``SinglePairConductanceConverter``: g_max 25 µS, g_min 0; 512x512 tiles by default),
per-action energies (the ISAAC-derived 32 nm SAR ADC, 1-bit DAC and shift-add of Accelergy's hwcomponents-library
``isaac.py``; SpikeSim's 65 nm LIF neuron, Moitra et al., IEEE TCAD 2023; a 32-bit add at 45 nm, Horowitz,
ISSCC 2014). Every energy field names its source in ``CrossbarEnergy.sources``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from spikemesh.errors import TargetError
from spikemesh.target.model import CoreSpec, EnergyTable, NocSpec, Target

#: ISAAC-derived 32 nm SAR ADC energy per conversion by bits (Accelergy hwcomponents-library isaac.py)
SAR_ADC_PJ = {4: 0.79, 5: 0.99, 6: 1.20, 7: 1.42, 8: 1.67, 9: 1.97, 10: 2.38}


@dataclass(frozen=True)
class CrossbarEnergy:
    """pJ per action of a crossbar tile. ``adc_pj`` maps ADC bits to pJ per conversion (bits outside the table
    are extrapolated by the last step). ``cell_read_pj`` is V²·G·t of one conducting cell."""

    row_drive_pj: float = 0.417
    cell_read_pj: float = 0.005
    adc_pj: dict[int, float] = field(default_factory=lambda: dict(SAR_ADC_PJ))
    shift_add_pj: float = 0.021
    digital_accumulate_pj: float = 0.1
    neuron_update_pj: float = 1.27
    sources: dict[str, str] = field(default_factory=lambda: {
        "row_drive_pj": "1-bit DAC / row driver 0.417 pJ per row activation, 32 nm ISAAC-derived "
                        "(Accelergy hwcomponents-library isaac.py)",
        "cell_read_pj": "RRAM cell read V²·G·t = 0.2 V, 12.5 µS, 10 ns = 5 fJ (derived)",
        "adc_pj": "SAR ADC per conversion 4b 0.79 ... 8b 1.67 ... 10b 2.38 pJ, 32 nm ISAAC-derived "
                  "(Accelergy hwcomponents-library isaac.py)",
        "shift_add_pj": "shift-add 0.021 pJ, 32 nm ISAAC-derived (Accelergy hwcomponents-library isaac.py)",
        "digital_accumulate_pj": "32b int add 0.1 pJ, 45 nm Horowitz ISSCC 2014",
        "neuron_update_pj": "LIF neuron update 1.27 pJ, 65 nm SpikeSim (Moitra et al., IEEE TCAD 2023; "
                            "ela_spikesim.py)",
    })

    def adc(self, bits: int) -> float:
        """pJ per conversion of a ``bits``-bit ADC."""
        table = {int(k): float(v) for k, v in self.adc_pj.items()}
        if bits in table:
            return table[bits]
        keys = sorted(table)
        lo, hi = keys[0], keys[-1]
        if bits < lo:
            return table[lo] * 2.0 ** (bits - lo)
        step = table[hi] / table[keys[-2]] if len(keys) > 1 else 2.0
        return table[hi] * step ** (bits - hi)


@dataclass(frozen=True)
class CrossbarConfig:
    """Array and peripheral parameters of one crossbar tile (the ``[extra.crossbar]`` TOML section).

    rows x cols: physical array size (cells). cell_bits: bits stored per cell (levels = 2**cell_bits).
    weight_bits: signed weight width mapped by bit slicing (slices = ceil((weight_bits - 1) / cell_bits) for the
    magnitude of a differential pair, ceil(weight_bits / cell_bits) with an offset column).
    g_min_us, g_max_us: conductance range (µS). scheme: "differential" (G+ and G- columns of one array,
    subtracted in analog before the ADC) or "offset" (one device per weight storing w + 2**(weight_bits-1) plus a
    reference column; the offset is removed digitally). adc_bits: ADC resolution (None = ideal integer readout,
    no clipping). cols_per_adc: columns multiplexed on one ADC (latency only). dac_bits: input resolution
    (multi-bit inputs are applied bit-serially as 1-bit row pulses, as in NeuroSim). rows_parallel: rows activated
    at once per read (NeuroSim parallelRead). read_policy: "timestep" (all spiking rows of a row group read in one
    conversion per column) or "event" (one read per input spike). v_read (V), t_read_s (s): read pulse.
    tech_nm: technology node of the energy table. r_wire_ohm: wire resistance per cell segment (IR drop).
    """

    rows: int = 128
    cols: int = 128
    cell_bits: int = 1
    weight_bits: int = 8
    g_min_us: float = 0.0
    g_max_us: float = 25.0
    scheme: str = "differential"
    adc_bits: int | None = 8
    cols_per_adc: int = 8
    dac_bits: int = 8
    rows_parallel: int = 128
    read_policy: str = "timestep"
    v_read: float = 0.2
    t_read_s: float = 10e-9
    tech_nm: int = 32
    r_wire_ohm: float = 0.35
    energy: CrossbarEnergy = field(default_factory=CrossbarEnergy)

    def __post_init__(self) -> None:
        where = "extra.crossbar"
        for name in ("rows", "cols", "cell_bits", "weight_bits", "cols_per_adc", "dac_bits", "rows_parallel"):
            if int(getattr(self, name)) < 1:
                raise TargetError(f"{name} must be positive", node=where, needed=">= 1", available=getattr(self, name))
        if self.scheme not in ("differential", "offset"):
            raise TargetError("unknown signed-weight scheme", node=where, needed="differential or offset",
                              available=self.scheme)
        if self.scheme == "differential" and self.cols % 2:
            raise TargetError("differential pairs need an even column count", node=where, needed="even cols",
                              available=self.cols)
        if self.read_policy not in ("timestep", "event"):
            raise TargetError("unknown read policy", node=where, needed="timestep or event",
                              available=self.read_policy)
        if not 0 <= self.g_min_us < self.g_max_us:
            raise TargetError("conductance range must satisfy 0 <= g_min < g_max", node=where,
                              needed="g_min_us < g_max_us", available=(self.g_min_us, self.g_max_us))
        if self.adc_bits is not None and self.adc_bits < 1:
            raise TargetError("adc_bits must be positive or absent (ideal)", node=where, available=self.adc_bits)

    @property
    def levels(self) -> int:
        return (1 << self.cell_bits) - 1

    @property
    def weight_cols(self) -> int:
        """Logical weight columns per array (differential pairs use two physical columns; the offset scheme
        reserves one reference column)."""
        return self.cols // 2 if self.scheme == "differential" else self.cols - 1

    @property
    def slices(self) -> int:
        mag = self.weight_bits - 1 if self.scheme == "differential" else self.weight_bits
        return max(1, -(-mag // self.cell_bits))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["energy"] = {k: v for k, v in d["energy"].items() if k != "sources"}
        d["energy"]["adc_pj"] = {str(k): v for k, v in d["energy"]["adc_pj"].items()}
        return {k: v for k, v in d.items() if v is not None}


def crossbar_config(target: Target, **overrides: Any) -> CrossbarConfig:
    """The CrossbarConfig of a crossbar-family Target (``target.extra["crossbar"]``), with keyword overrides."""
    if target.family != "crossbar":
        raise TargetError("not a crossbar target", node=target.name, needed="family 'crossbar'",
                          available=target.family, hint="use --target crossbar (or crossbar-256 / crossbar-512)")
    d = dict(target.extra.get("crossbar", {}))
    d.update(overrides)
    allowed = {f.name for f in fields(CrossbarConfig)}
    bad = sorted(set(d) - allowed)
    if bad:
        raise TargetError(f"unknown key {bad[0]!r} in [extra.crossbar]", node=target.name,
                          needed="one of " + ", ".join(sorted(allowed)), available=bad[0],
                          hint="see docs/targets.md (crossbar section)")
    e = d.get("energy")
    if isinstance(e, dict):
        e = dict(e)
        if "adc_pj" in e:
            e["adc_pj"] = {int(k): float(v) for k, v in e["adc_pj"].items()}
        ebad = sorted(set(e) - {f.name for f in fields(CrossbarEnergy)})
        if ebad:
            raise TargetError(f"unknown key {ebad[0]!r} in [extra.crossbar.energy]", node=target.name,
                              hint="see docs/targets.md (crossbar section)")
        d["energy"] = replace(CrossbarEnergy(), **e)
    try:
        return CrossbarConfig(**d)
    except TypeError as err:
        raise TargetError(f"bad value: {err}", node=target.name, hint="see docs/targets.md") from err


def _crossbar(n: int, tiles_x: int, tiles_y: int) -> Target:
    cfg = CrossbarConfig(rows=n, cols=n)
    e = cfg.energy
    energy = EnergyTable(
        synop_pj=0.0, neuron_update_pj=e.neuron_update_pj, router_hop_pj=1.0, interchip_bit_pj=10.0,
        synapse_read_bit_pj=0.0, static_mw=0.0,
        sources={"synop_pj": "not used: crossbar reads are charged per row drive, cell read, ADC conversion, "
                             "shift-add and accumulate (extra.crossbar.energy)",
                 "neuron_update_pj": e.sources["neuron_update_pj"],
                 "router_hop_pj": "assumed: no per-hop figure is published for these tile arrays",
                 "interchip_bit_pj": "assumed: 10x an on-chip hop per bit",
                 "synapse_read_bit_pj": "not used (analog in-memory read)", "static_mw": "not modelled"},
    )
    return Target(
        name="crossbar" if n == 128 else f"crossbar-{n}",
        family="crossbar",
        cores_x=tiles_x,
        cores_y=tiles_y,
        # one core = one array group (the bit-slice arrays of one weight block, tiles.py):
        # rows = axons, weight columns = neurons, rows x weight columns weights of weight_bits each
        core=CoreSpec(neurons=cfg.weight_cols, axons=n, synapse_bits=n * cfg.weight_cols * cfg.weight_bits,
                      weight_bits=cfg.weight_bits, state_bits=16),
        clock_hz=1e8,
        noc=NocSpec(hop_cycles=1, link_flits_per_cycle=1, buffer_flits=4, interchip_hop_cycles=20),
        energy=energy,
        features=frozenset({"IF", "LIF", "CubaLIF", "LI", "Integrator", "reset_zero", "reset_subtract",
                            "reset_none", "refractory", "multicast", "partial_sums"}),
        extra={"crossbar": cfg.to_dict()},
        description=f"memristor crossbar tiles: {n}x{n} arrays, {tiles_x}x{tiles_y} array groups (cores), 1 b/cell, "
                    f"differential "
                    f"pairs, 8-bit SAR ADC, 25 µS PCM range",
    )


def crossbar() -> Target:
    """128x128 arrays (the subarray size of NeuroSim and ISAAC), 16x16 tiles per chip."""
    return _crossbar(128, 16, 16)


def crossbar_256() -> Target:
    """256x256 arrays (NeuRRAM's array size, Wan et al., Nature 2022), 8x8 tiles per chip."""
    return _crossbar(256, 8, 8)


def crossbar_512() -> Target:
    """512x512 arrays (aihwkit's default tile: max_input_size = max_output_size = 512), 4x4 tiles per chip."""
    return _crossbar(512, 4, 4)
