"""The memristor arrays of the ``crossbar`` engine: ``CrossbarSimulator`` programs every projection's bit-sliced
weights onto arrays (device programming, drift, faults and their compensation, optional IR drop), then runs the
graph step by step: rows driven by spikes or bit-serial inputs, column values digitised, shift-added over slices,
added over row tiles and integrated by the reference semantics' digital neurons, counting every action (``ACTIONS``)
per (step, sample) and per layer. ``engine.py`` turns the counts into energy and the run's statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spikemesh.backends.crossbar import devices as dev
from spikemesh.backends.crossbar.irdrop import ir_drop_closed_form
from spikemesh.backends.crossbar.peripherals import adc, input_planes
from spikemesh.backends.crossbar.target import CrossbarConfig
from spikemesh.backends.crossbar.tiling import MappedLayer, MappedMatrix, im2col, map_graph
from spikemesh.ir.graph import Graph, Projection
from spikemesh.ir.operators import Conv, Dense, Sparse
from spikemesh.ir.reference import (
    check_record,
    graph_outputs,
    normalize_inputs,
    require_int,
    step_graph,
)
from spikemesh.ir.result import SimResult

ACTIONS = ("row_drive", "cell_read", "adc_conversion", "shift_add", "digital_accumulate", "neuron_update")


@dataclass
class _Programmed:
    """Effective per-slice matrices (cell-level units) of one MappedMatrix after programming and drift, plus the
    physical conductances (µS) the IR-drop model needs."""

    eff: np.ndarray  # [slices, R, C] (G+ - G-)/ΔG or (G - G_ref)/ΔG
    g_a: np.ndarray  # [slices, R, C] µS: G+ (differential) or G (offset)
    g_b: np.ndarray  # [slices, R, C] µS: G- or the tile's reference column, expanded per column
    event_read: np.ndarray | None  # [slices, R, C] ADC'd single-row reads (event policy)
    eff_prog: np.ndarray  # [slices, R, C] right after programming (t = 0, no drift): the compensation reference


class CrossbarSimulator:
    """Programs a graph's weights onto arrays and runs it. ``device``: devices.DeviceModel; ``ir_drop``: apply
    aihwkit's closed form with the config's ``r_wire_ohm``; ``seed``: one integer for every random draw."""

    def __init__(self, graph: Graph, cfg: CrossbarConfig, device: dev.DeviceModel | None = None,
                 ir_drop: bool = False, seed: int = 0, layers: dict[str, MappedLayer] | None = None) -> None:
        self.graph, self.cfg = graph, cfg
        self.device = device or dev.DeviceModel()
        self.ir_drop = ir_drop
        self.rng = np.random.default_rng(seed)
        self.layers = map_graph(graph, cfg) if layers is None else layers
        self.dg = (cfg.g_max_us - cfg.g_min_us) / cfg.levels
        self.prog: dict[str, list[_Programmed]] = {}
        self.alpha: dict[str, float] = {}
        for name, layer in self.layers.items():
            self.prog[name] = [self._program(m, layer) for m in layer.matrices]
            self.alpha[name] = self._compensation(name, layer) if self.device.drift_compensation else 1.0

    # ------------------------------------------------------------------ programming
    def _conductances(self, levels: np.ndarray, m: MappedMatrix) -> tuple[np.ndarray, np.ndarray]:
        """Target conductances (µS) [slices, R, C] of the two device sets of each slice."""
        cfg = self.cfg
        g_a = cfg.g_min_us + levels[:, 0] * self.dg
        if cfg.scheme == "differential":
            g_b = cfg.g_min_us + levels[:, 1] * self.dg
        else:  # one reference column at g_min per (row tile, column tile) array, shared by that tile's columns
            ct = -(-m.cols // cfg.weight_cols)
            ref = np.full((m.slices, m.rows, ct), cfg.g_min_us)
            g_b = ref  # expanded after programming
        return g_a, g_b

    def _expand_ref(self, ref: np.ndarray, cols: int) -> np.ndarray:
        tile = np.arange(cols) // self.cfg.weight_cols
        return ref[:, :, tile]

    def _program(self, m: MappedMatrix, layer: MappedLayer) -> _Programmed:
        cfg, d = self.cfg, self.device
        t_a, t_b = self._conductances(m.levels, m)
        p_a = dev.program(t_a, d, cfg.g_min_us, cfg.g_max_us, self.rng)
        p_b = dev.program(t_b, d, cfg.g_min_us, cfg.g_max_us, self.rng)
        r_a = dev.drift(p_a, t_a, d.t_read_s, d, cfg.g_max_us, self.rng)
        r_b = dev.drift(p_b, t_b, d.t_read_s, d, cfg.g_max_us, self.rng)
        if cfg.scheme == "offset":
            p_b, r_b = self._expand_ref(p_b, m.cols), self._expand_ref(r_b, m.cols)
        eff_prog = (p_a - p_b) / self.dg  # reference read right after programming (drift compensation)
        eff = (r_a - r_b) / self.dg
        event = None
        if cfg.read_policy == "event":
            event = np.stack([self._single_row_reads(r_a[k], r_b[k]) for k in range(m.slices)])
        return _Programmed(eff, r_a, r_b, event, eff_prog)

    def _single_row_reads(self, g_a: np.ndarray, g_b: np.ndarray) -> np.ndarray:
        """ADC'd value of reading each row alone (event policy): [R, C]."""
        cfg = self.cfg
        R = g_a.shape[0]
        if self.ir_drop:
            vals = np.zeros_like(g_a)
            for r0 in range(0, R, cfg.rows):
                r1 = min(R, r0 + cfg.rows)
                eye = np.zeros((r1 - r0, cfg.rows))
                eye[np.arange(r1 - r0), np.arange(r1 - r0)] = 1.0
                vals[r0:r1] = self._currents(eye, g_a[r0:r1], g_b[r0:r1])
        else:
            vals = (g_a - g_b) / self.dg
        return adc(vals, cfg.levels, cfg.adc_bits, signed=cfg.scheme == "differential", rng=self.rng)

    def _compensation(self, name: str, layer: MappedLayer) -> float:
        """Global drift compensation α = mean|W(0)| / mean|W(t)| of a one-hot read-out of every weight (aihwkit
        GlobalDriftCompensation; W(0) = the devices right after programming)."""
        num = den = 0.0
        for m, pr in zip(layer.matrices, self.prog[name], strict=True):
            scale = (2.0 ** (self.cfg.cell_bits * np.arange(m.slices)))[:, None, None]
            num += float(np.abs((pr.eff_prog * scale).sum(0)).sum())
            den += float(np.abs((pr.eff * scale).sum(0)).sum())
        return num / den if den > 0 else 1.0

    # ------------------------------------------------------------------ reads
    def _currents(self, x: np.ndarray, g_a: np.ndarray, g_b: np.ndarray) -> np.ndarray:
        """(I_a − I_b)/ΔG for drive fractions ``x`` [M, n_tile_rows] padded to the array's rows; IR drop when on."""
        cfg = self.cfg
        n = g_a.shape[0]
        xs = x[:, :n]
        if not self.ir_drop:
            return xs @ (g_a - g_b) / self.dg
        pad = cfg.rows - n  # rows of the array below the mapped ones are empty (positions count from the output)
        ga = np.vstack([g_a, np.zeros((pad, g_a.shape[1]))]) * 1e-6
        gb = np.vstack([g_b, np.zeros((pad, g_b.shape[1]))]) * 1e-6
        xp = np.hstack([xs, np.zeros((xs.shape[0], pad))])
        gmax = cfg.g_max_us * 1e-6
        ia = ir_drop_closed_form(ga, xp, cfg.r_wire_ohm, gmax)
        ib = ir_drop_closed_form(gb, xp, cfg.r_wire_ohm, gmax)
        return (ia - ib) / (self.dg * 1e-6)

    def mvm(self, name: str, gi: int, x: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Integer result [M, C] of the layer's matrix ``gi`` on integer inputs ``x`` [M, R]. Adds the read's action
        counts per array group (row tile x column tile: the group's own drivers, cells, ADCs, shift-adders and
        accumulators) and input row into ``counts`` [len(ACTIONS), row_tiles, col_tiles, M]."""
        cfg = self.cfg
        layer = self.layers[name]
        m = layer.matrices[gi]
        pr = self.prog[name][gi]
        signed = cfg.scheme == "differential"
        M = x.shape[0]
        total = np.zeros((M, m.cols), dtype=np.float64)
        ncols = np.minimum(cfg.weight_cols, m.cols - cfg.weight_cols * np.arange(layer.col_tiles)).astype(float)
        phys = (2 * ncols if signed else ncols + 1)[None, :, None]  # cells read per row (offset: + reference)
        conv = (ncols if signed else ncols + 1)[None, :, None]  # conversions per read of the group's columns
        ncol = ncols[None, :, None]
        starts = np.arange(0, m.rows, cfg.rows)
        for weight, plane in input_planes(x, cfg.dac_bits):
            acc = np.zeros((M, m.cols))
            act = np.add.reduceat(plane, starts, axis=1).T[:, None, :]  # active rows per row tile [rt, 1, M]
            counts[0] += act * m.slices  # every column tile's arrays are driven
            counts[1] += act * phys * m.slices
            for k in range(m.slices):
                part = np.zeros((M, m.cols))
                if cfg.read_policy == "event":
                    part += plane @ pr.event_read[k]
                    counts[2] += act * conv
                    counts[3] += act * conv
                    counts[4] += act * ncol
                else:
                    for r, r0 in enumerate(starts):
                        r1 = min(m.rows, r0 + cfg.rows)
                        for g0 in range(r0, r1, cfg.rows_parallel):
                            g1 = min(r1, g0 + cfg.rows_parallel)
                            xg = np.zeros((M, r1 - r0))
                            xg[:, g0 - r0:g1 - r0] = plane[:, g0:g1]
                            on = xg.any(1)
                            if not on.any():
                                continue
                            v = self._currents(xg, pr.g_a[k, r0:r1], pr.g_b[k, r0:r1]) if self.ir_drop \
                                else xg @ pr.eff[k, r0:r1]
                            fs = (g1 - g0) * cfg.levels
                            part += adc(v, fs, cfg.adc_bits, signed, self.rng) * on[:, None]
                            counts[2, r] += on[None, :] * conv[0]
                            counts[3, r] += on[None, :] * conv[0]
                            counts[4, r] += on[None, :] * ncol[0]
                acc += part * float(1 << (k * cfg.cell_bits))
            if m.offset:
                acc -= m.offset * plane.sum(1)[:, None]  # code offset removed digitally (popcount of the rows)
            total += weight * acc
        if self.alpha[name] != 1.0:
            total = total * self.alpha[name]
        return np.floor(total + 0.5).astype(np.int64)

    # ------------------------------------------------------------------ ops
    def apply(self, proj: Projection, lo: int, hi: int, x: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Ops ``lo .. hi-1`` of ``proj`` on ``x`` [B, *shape]; the crossbar op runs on the arrays. ``counts``
        [len(ACTIONS), groups · row_tiles · col_tiles, B] gets the read's actions per array group (in
        ``tiles.tiles_of`` order within the projection) and sample."""
        layer = self.layers.get(proj.name)
        for i in range(lo, hi):
            op = proj.ops[i]
            if layer is None or i != layer.op_index:
                x = op.apply(x)
                continue
            B = x.shape[0]
            rt, ct = layer.row_tiles, layer.col_tiles
            if isinstance(op, (Dense, Sparse)):
                c = np.zeros((len(ACTIONS), rt, ct, B))
                y = self.mvm(proj.name, 0, x.reshape(B, -1), c)
                counts[:, :rt * ct] += c.reshape(len(ACTIONS), rt * ct, B)
                if isinstance(op, Dense) and op.bias is not None:
                    y = y + op._arr("bias", x)
                x = y
            else:
                assert isinstance(op, Conv)
                cols = im2col(op, x)  # [g, B, P, K]
                out_shape = op.out_shape(x.shape[1:])
                g, _, P, _ = cols.shape
                outs = []
                for gi in range(g):
                    c = np.zeros((len(ACTIONS), rt, ct, B * P))
                    y = self.mvm(proj.name, gi, cols[gi].reshape(B * P, -1), c)
                    counts[:, gi * rt * ct:(gi + 1) * rt * ct] += c.reshape(len(ACTIONS), rt * ct, B, P).sum(3)
                    outs.append(y.reshape(B, P, -1).transpose(0, 2, 1))
                y = np.concatenate(outs, axis=1).reshape((B, *out_shape))
                if op.bias is not None:
                    y = y + op._arr("bias", x).reshape((1, -1) + (1,) * op.ndim)
                x = y
        return x

    # ------------------------------------------------------------------ run
    def run(self, inputs: Any, record: Sequence[str] | None = None, per_step_tiles: bool = False
            ) -> tuple[SimResult, np.ndarray]:
        """Execute (the reference's step loop with every projection's ops on the arrays); returns (SimResult,
        counts [len(ACTIONS), T, B]). ``self.tile_counts`` [len(ACTIONS), n_groups, T or 1, B] holds the array
        actions per array group (``tiles.tiles_of`` numbering; per step with ``per_step_tiles``, else summed over
        the steps); ``self.layer_counts`` per target population."""
        graph = self.graph
        xs, T, B = normalize_inputs(graph, inputs)
        xs = {k: require_int(v, "input", k) for k, v in xs.items()}
        record = check_record(graph, record)
        counts = np.zeros((len(ACTIONS), T, B))
        self.layer_counts = {p.name: np.zeros((len(ACTIONS), T, B)) for p in graph.populations}
        base, n_groups = {}, 0
        for proj in graph.projections:
            if proj.name in self.layers:
                lay = self.layers[proj.name]
                base[proj.name] = n_groups
                n_groups += len(lay.matrices) * lay.row_tiles * lay.col_tiles
        self.tile_counts = np.zeros((len(ACTIONS), n_groups, T if per_step_tiles else 1, B))

        def on_arrays(proj: Projection, lo: int, hi: int, x: np.ndarray, t: int) -> np.ndarray:
            lay = self.layers.get(proj.name)
            n = len(lay.matrices) * lay.row_tiles * lay.col_tiles if lay is not None else 0
            c = np.zeros((len(ACTIONS), n, x.shape[0]))
            y = self.apply(proj, lo, hi, x, c)
            if n:
                self.tile_counts[:, base[proj.name]:base[proj.name] + n, t if per_step_tiles else 0] += c
            c = c.sum(1)
            counts[:, t] += c
            self.layer_counts[proj.target][:, t] += c
            return y

        spikes, v_rec = step_graph(graph, xs, T, B, True, record, on_arrays)
        counts[ACTIONS.index("neuron_update")] += sum(p.size for p in graph.populations)  # every neuron, every step
        for p in graph.populations:
            self.layer_counts[p.name][ACTIONS.index("neuron_update")] += p.size
        res = SimResult(spikes=spikes, v=v_rec, outputs=graph_outputs(graph, spikes, v_rec, xs.get),
                        engine="crossbar", steps=T, mode="int")
        return res, counts


def dense_ops_per_step(sim: CrossbarSimulator) -> float:
    """Dense-equivalent operations (2 per MAC) of one step of one sample over every crossbar matrix."""
    return float(sum(2 * m.rows * m.cols * (layer.positions // len(layer.matrices))
                     for layer in sim.layers.values() for m in layer.matrices))
