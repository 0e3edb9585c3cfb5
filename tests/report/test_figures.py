"""Headline figures, per-layer energy keyed by population, reprs, the plotting API and the placement map."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv, to_hex, to_rgb
from matplotlib.figure import Figure

import spikemesh
from spikemesh.errors import SimulationError
from spikemesh.ir import IF, Conv2d, Dense, Flatten, Graph, Input, Output, Population, Projection
from spikemesh.ir.result import SimResult, format_headline, headline, make_summary
from spikemesh.plot import energy, energy_breakdown, latency, placement, raster, trace
from spikemesh.report.placement_map import PALETTE, placement_csv, placement_figure, placement_svg
from spikemesh.report.plots import sim_entry


def test_headline_by_hand() -> None:
    """The headline reads the summary: 8e6 pJ over 4 samples = 2 µJ each; 8e-6 J over 4 x 200 µs = 10 mW."""
    sm = make_summary(engine="cycle", steps=10, batch=4, spikes_per_layer={"a": 30, "b": 10}, synops=400,
                      neuron_updates=0, energy={"total_pj": 8e6, "by_action_pj": {"static": 0.0}},
                      time_model="cycles", latency_s=2e-4, latency_cycles=60_000, seconds=8e-4)
    h = headline({"summary": sm, "accuracy": 0.75})
    assert h["energy_per_inference_uj"] == pytest.approx(2.0)
    assert h["latency_s"] == pytest.approx(2e-4) and h["latency_cycles"] == 60_000
    assert h["power_mw"] == pytest.approx(10.0)
    assert h["synops_per_inference"] == 100 and h["spikes_per_inference"] == 10 and h["accuracy"] == 0.75
    fast = headline({"summary": make_summary(engine="fast", steps=10, batch=4, spikes_per_layer={}, synops=0,
                                             neuron_updates=0, energy={"total_pj": 8e6}, time_model="none",
                                             latency_note="no time model")})
    assert fast["latency_s"] is None and fast["power_mw"] is None  # no simulated time: no power, said so
    rows = dict(format_headline(fast))
    assert rows["latency per sample"] == "n/a (no time model)" and rows["power"].startswith("n/a (")
    assert headline({"summary": SimResult(spikes={}, v={}, outputs={}, engine="reference", steps=3).summary()}
                    )["energy_per_inference_uj"] is None


@pytest.mark.parametrize("engine", ["fast", "cycle"])
def test_layer_energy_is_keyed_by_population_and_adds_up(mesh_program: Any, digits: Any, engine: str) -> None:
    _, x, _ = digits
    r = spikemesh.simulate(mesh_program, x[:, :3], engine=engine)
    e = r.stats["energy"]
    names = {i.name for i in mesh_program.graph.inputs} | {p.name for p in mesh_program.graph.populations}
    pops = {p.name for p in mesh_program.graph.populations}
    assert pops <= set(e["by_layer_pj"]) <= names | {"(noc)", "(static)"}
    assert sum(e["by_layer_pj"].values()) == pytest.approx(e["total_pj"], rel=1e-9)
    assert sum(e["by_core_pj"]) == pytest.approx(e["total_pj"] - e["by_action_pj"]["static"], rel=1e-9)
    # neuron updates of fc alone: 10 neurons x steps x batch x the table's pJ, plus synops into fc
    acts_fc = 10 * r.steps * 3 * mesh_program.target.energy.neuron_update_pj
    assert e["by_layer_pj"]["fc"] >= acts_fc


def test_fast_energy_on_a_mesh_says_it_leaves_out_the_noc(mesh_program: Any, digits: Any) -> None:
    """fast prices compute actions only; on a mesh target its energy is labelled so, and cycle's (which adds the
    NoC actions) is not; the difference is exactly cycle's NoC energy."""
    _, x, _ = digits
    fast = spikemesh.simulate(mesh_program, x[:, :3], engine="fast")
    cyc = spikemesh.simulate(mesh_program, x[:, :3], engine="cycle")
    rows = dict(format_headline(fast.headline()))
    assert "compute only" in rows["energy per inference"] and "cycle" in rows["energy per inference"]
    assert "compute only" not in dict(format_headline(cyc.headline()))["energy per inference"]
    noc = cyc.stats["energy"]["by_layer_pj"]["(noc)"]
    assert noc > 0
    assert cyc.stats["energy"]["total_pj"] - fast.stats["energy"]["total_pj"] == pytest.approx(
        noc + cyc.stats["energy"]["by_action_pj"]["static"] - fast.stats["energy"]["by_action_pj"]["static"])


def test_crossbar_stats_keyed_by_population() -> None:
    rng = np.random.default_rng(0)
    w1 = rng.integers(-2, 3, (2, 1, 3, 3)).astype(float)
    w2 = rng.integers(-2, 3, (3, 72)).astype(float)
    g = Graph(inputs=(Input("in", (1, 6, 6)),),
              populations=(Population("conv", (2, 6, 6), IF(threshold=3.0)),
                           Population("out", (3,), IF(threshold=2.0))),
              projections=(Projection("0", "in", "conv", (Conv2d(w1, padding=1),)),  # torch-style names
                           Projection("4+5", "conv", "out", (Flatten(), Dense(w2)))),
              outputs=(Output("y", "out"),))
    x = (rng.random((4, 2, 1, 6, 6)) < 0.5).astype(np.int64)
    r = spikemesh.simulate(g, x, engine="crossbar", config={"adc_bits": None})
    assert set(r.stats["mapping"]) == {"conv", "out"}
    assert r.stats["mapping"]["out"]["projection"] == "4+5"


def test_async_energy_by_layer(digits: Any) -> None:
    graph, x, _ = digits
    r = spikemesh.simulate(spikemesh.compile(graph, "speck"), x[:, :2], engine="async")
    e = r.stats["energy"]
    assert set(e["by_layer_pj"]) == {"conv1", "conv2", "fc"}
    assert sum(e["by_layer_pj"].values()) == pytest.approx(r.stats["energy_dynamic_pj"], rel=1e-9)


def test_reprs_are_short_and_never_arrays(mesh_program: Any, cycle_result: Any) -> None:
    for obj in (mesh_program, cycle_result):
        text = repr(obj)
        assert "\n" not in text and len(text) < 400 and "array(" not in text
        page = obj._repr_html_()
        assert "array(" not in page and len(page) < 20000
    assert "cycle" in repr(cycle_result) and "µJ" in repr(cycle_result) and "latency" in repr(cycle_result)
    assert "tianjic" in repr(mesh_program) and "650 neurons" in repr(mesh_program)
    assert cycle_result.dt == mesh_program.graph.dt


def test_raster_draws_one_mark_per_spike(cycle_result: Any) -> None:
    fig = raster(cycle_result, "conv2", sample=1)
    assert isinstance(fig, Figure)
    (coll,) = fig.axes[0].collections
    offsets = coll.get_offsets()
    s = cycle_result.spikes["conv2"][:, 1].reshape(cycle_result.steps, -1)
    assert len(offsets) == int(s.sum())
    t, i = int(offsets[0][0]), int(offsets[0][1])
    assert s[t, i]


def test_trace_plots_recorded_states_and_names_missing_layers(cycle_result: Any) -> None:
    fig = trace(cycle_result, "fc", neurons=[0, 3])
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("neuron")]
    assert [ln.get_label() for ln in lines] == ["neuron 0", "neuron 3"]
    assert np.array_equal(lines[1].get_ydata(), cycle_result.v["fc"][:, 0, 3])
    with pytest.raises(SimulationError, match="conv1") as e:
        trace(cycle_result, "conv1")
    assert "conv2" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("by", ["layer", "action", "core"])
def test_energy_bars_equal_the_statistics(cycle_result: Any, by: str) -> None:
    fig = energy(cycle_result, by=by)
    bars = [p.get_width() for p in fig.axes[0].patches]
    parts = energy_breakdown(cycle_result, by)
    if by == "layer":
        parts = {k: v for k, v in parts.items() if v}
    assert bars == pytest.approx(list(parts.values()))
    key = {"layer": "by_layer_pj", "action": "by_action_pj", "core": "by_core_pj"}[by]
    raw = cycle_result.stats["energy"][key]
    total = sum(raw.values()) if isinstance(raw, dict) else sum(raw)
    assert sum(energy_breakdown(cycle_result, by).values()) == pytest.approx(total / cycle_result.batch / 1e6)
    with pytest.raises(SimulationError, match="energy"):
        energy(cycle_result, by="chip")


def test_latency_and_placement_figures(mesh_program: Any, cycle_result: Any) -> None:
    fig = latency(cycle_result)
    heights = [p.get_height() for p in fig.axes[0].patches]
    per = cycle_result.stats["noc"]["per_step"]
    T, B = cycle_result.steps, cycle_result.batch
    assert sum(heights) * B == pytest.approx(sum(per["compute_cycles"]) + sum(per["communication_cycles"]))
    assert isinstance(placement(mesh_program), Figure)
    with pytest.raises(SimulationError):
        raster(sim_entry(cycle_result))  # a stats dict has no rasters
    del T


def _distinct(a: str, b: str) -> bool:
    """Neighbouring colours from different hue families: hues 25° apart, or exactly one of them grey."""
    ha, hb = rgb_to_hsv(to_rgb(a)), rgb_to_hsv(to_rgb(b))
    if (ha[1] < 0.1) != (hb[1] < 0.1):
        return True
    d = abs(ha[0] - hb[0])
    return min(d, 1 - d) * 360 >= 25


def test_palette_keeps_neighbouring_layers_apart() -> None:
    assert len(set(PALETTE)) == len(PALETTE)
    assert all(_distinct(PALETTE[i], PALETTE[i + 1]) for i in range(len(PALETTE) - 1))
    tab20 = [to_hex(c) for c in matplotlib.colormaps["tab20"].colors]  # the old map: pairs of one hue
    assert not all(_distinct(tab20[i], tab20[i + 1]) for i in range(len(tab20) - 1))


def test_placement_map_marks_roles_heat_and_tooltips(mesh_program: Any, cycle_result: Any) -> None:
    sim = sim_entry(cycle_result)
    est = placement_figure(mesh_program)
    simu = placement_figure(mesh_program, sim)
    assert "estimate" in est.axes[1].get_ylabel() and "simulated" in simu.axes[1].get_ylabel()
    labels = [t.get_text() for t in simu.axes[0].get_legend().get_texts()]
    roles = {c.role for c in mesh_program.partition.cores}
    assert any("host entry" in t for t in labels)
    assert any("partial-sum" in t for t in labels) == ("partial_sum" in roles)
    # cores drawn above routes, core ids written on them
    ax = simu.axes[0]
    assert min(p.get_zorder() for p in ax.patches if (p.get_gid() or "").startswith("core-")) > \
        max(c.get_zorder() for c in ax.collections[1:])
    ids = {t.get_text() for t in ax.texts}
    assert {str(c.index) for c in mesh_program.partition.cores} <= ids
    svg = placement_svg(mesh_program, sim)
    tips = re.findall(r"<title>(core \d+ [^<]*)</title>", svg)
    assert len(tips) == len(mesh_program.partition.cores)
    assert all("layer" in t and "utilisation" in t and "energy" in t for t in tips)
    assert placement_svg(mesh_program, sim) == svg  # byte-stable


def test_placement_csv_counts_neurons(mesh_program: Any) -> None:
    rows = list(csv.DictReader(io.StringIO(placement_csv(mesh_program))))
    assert sum(int(r["neuron_count"]) for r in rows) == sum(p.size for p in mesh_program.graph.populations)
    for r in rows:
        if r["role"] == "neurons":
            assert int(r["neuron_count"]) == int(r["neurons"])  # the core's neuron slots in use


def test_large_placement_map_is_one_image_without_labels(mesh_program: Any, cycle_result: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Above LABELLED_CORES cores the map has no per-core artists (a ResNet-18 build has 34,000 cores): the cores
    are one image, each slot's middle pixels in the colour its square has in the labelled map (partial-sum cores
    darker instead of hatched); no ids, no tooltips."""
    import spikemesh.report.placement_map as pm

    sim = sim_entry(cycle_result)
    small = placement_figure(mesh_program, sim).axes[0]
    want = {p.get_gid(): p.get_facecolor() for p in small.patches if (p.get_gid() or "").startswith("core-")}
    monkeypatch.setattr(pm, "LABELLED_CORES", 1)
    ax = placement_figure(mesh_program, sim).axes[0]
    assert not ax.texts and not [p for p in ax.patches if (p.get_gid() or "").startswith("core-")]
    (img,) = ax.images
    px = np.asarray(img.get_array())
    t = mesh_program.target
    for r in pm.placement_rows(mesh_program):
        gx, gy = r["chip"][0] * t.cores_x + r["x"], r["chip"][1] * t.cores_y + r["y"]
        got = px[gy * pm.CELL + pm.CELL // 2, gx * pm.CELL + pm.CELL // 2]
        assert px[gy * pm.CELL, gx * pm.CELL, 3] == 0  # the slot's border is clear: links show between cores
        if r["role"] == "partial_sum":
            assert got[:3].sum() < np.sum(want[f"core-{r['core']}"][:3])
        else:
            np.testing.assert_allclose(got, want[f"core-{r['core']}"])
    svg = placement_svg(mesh_program, sim)
    assert "<title>core" not in svg and "<image" in svg
