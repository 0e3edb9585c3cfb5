"""Placement exports: placement.json, placement.csv, and the map placement.png / placement.svg.

The map draws every physical core slot of the target; a used core is a square in its layer's colour (a
qualitative palette ordered so that neighbouring layers never share a hue family), lighter the fewer of its neuron
slots it uses, with its core id inside. Partial-sum cores are hatched, source cores (graph inputs replayed on chip)
carry a triangle, and a star marks the host entry (graph inputs enter at chip (0,0) router (0,0)). The view is
cropped to the used slots plus one free row and column (the title says so when slots are left out). Links are drawn
under the cores, coloured by load: the flits per step the ``cycle`` engine measured when a simulation is given
(``sim``, the ``simulation`` entry of report.json), else the compile-time estimate (spike copies per step of the
routes); the colour bar says which. In the SVG each core is a group ``core-<id>`` with a ``<title>`` tooltip (core
id, layer, role, neurons, utilisation, energy when simulated). A map of more than ``LABELLED_CORES`` cores is one
image instead (no ids or tooltips, partial-sum cores darker instead of hatched; placement.csv lists every core).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.fileio import atomic_open, atomic_write_json
from spikemesh.target.topology import STEP, Mesh

#: tab20 reordered: the ten saturated hues first, then their light variants, so layers i and i+1 always differ
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)


def layer_colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def core_neuron_counts(program: Any) -> np.ndarray:
    """Neurons held by each logical core (over all its layers), from the partition's ``neuron_core``."""
    part = program.partition
    counts = np.zeros(len(part.cores), dtype=np.int64)
    for arr in part.neuron_core.values():
        a = np.asarray(arr).reshape(-1)
        a = a[a >= 0]
        counts += np.bincount(a, minlength=len(counts))[:len(counts)]
    return counts


def placement_rows(program: Any, core_energy_pj: list[float] | None = None) -> list[dict[str, Any]]:
    part, pl = program.partition, program.placement
    neurons_cap = program.target.core.neurons
    held = core_neuron_counts(program)
    rows = []
    for c, xy in zip(part.cores, pl.coords):
        layer = c.layers[0] if c.layers else ""
        row = {"core": c.index, "group": c.group, "layer": layer, "layers": list(c.layers), "role": c.role,
               "neurons": list(c.neurons.get(layer, (0, 0))), "neuron_count": int(held[c.index]),
               "chip": [int(xy[0]), int(xy[1])], "x": int(xy[2]), "y": int(xy[3]), "use": dict(c.use),
               "utilisation": round(c.use.get("neurons", 0) / max(1, neurons_cap), 4)}
        if core_energy_pj is not None and c.index < len(core_energy_pj):
            row["energy_pj"] = float(core_energy_pj[c.index])
        rows.append(row)
    return rows


def placement_json(program: Any) -> dict[str, Any]:
    t = np.asarray(program.partition.traffic).reshape(-1, 3)
    return {"cores": placement_rows(program),
            "traffic": [[int(s), int(d), float(c)] for s, d, c in t]}


def placement_csv(program: Any) -> str:
    """One row per logical core: ``neuron_count`` is the neurons it holds over all its layers (``layers``,
    semicolon-separated); ``neuron_start``/``neuron_stop`` the flat index span of its first layer."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["core", "group", "layer", "layers", "role", "neuron_count", "neuron_start", "neuron_stop", "chip_x",
                "chip_y", "x", "y", "neurons", "axons", "synapse_bits", "utilisation"])
    for r in placement_rows(program):
        w.writerow([r["core"], r["group"], r["layer"], ";".join(r["layers"]), r["role"], r["neuron_count"],
                    *r["neurons"], *r["chip"], r["x"], r["y"], r["use"].get("neurons", 0), r["use"].get("axons", 0),
                    r["use"].get("synapse_bits", 0), r["utilisation"]])
    return buf.getvalue()


def simulated_link_load(sim: Mapping[str, Any] | None) -> dict[tuple[int, ...], float] | None:
    """Flits per step per link (chip_x, chip_y, x, y, dir) measured by the cycle engine, or None."""
    noc = (sim or {}).get("noc") or {}
    flits = noc.get("link_flits")
    if flits is None:
        return None
    per = max(1, int(sim.get("steps") or 1) * int(sim.get("batch") or 1))  # type: ignore[union-attr]
    return {tuple(int(v) for v in f[:5]): float(f[5]) / per for f in flits}


def _mix_white(colour: str, amount: float) -> tuple[float, float, float]:
    """``colour`` blended with white: amount 1 = the colour, 0 = white (opaque, so routes never show through)."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return (1 - amount + amount * r, 1 - amount + amount * g, 1 - amount + amount * b)


def _tooltip(r: Mapping[str, Any]) -> str:
    chip = f"chip ({r['chip'][0]},{r['chip'][1]}) " if r["chip"] != [0, 0] else ""
    parts = [f"core {r['core']}", f"{chip}slot ({r['x']},{r['y']})", f"layer {', '.join(r['layers']) or '-'}",
             f"role {r['role']}", f"neurons {r['neuron_count']}", f"utilisation {r['utilisation']:.0%}"]
    if "energy_pj" in r:
        parts.append(f"energy {r['energy_pj'] / 1e6:.4g} µJ")
    return " · ".join(parts)


def _mix_black(colour: str, amount: float) -> tuple[float, float, float]:
    """``colour`` darkened: amount 0 = the colour, 1 = black."""
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return ((1 - amount) * r, (1 - amount) * g, (1 - amount) * b)


def _squares(gx: np.ndarray, gy: np.ndarray, half: float = 0.35) -> np.ndarray:
    """Vertices [n, 4, 2] of the squares of side ``2 * half`` centred on the slots (gx, gy)."""
    corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    return np.stack([gx, gy], axis=1)[:, None, :] + corners[None, :, :]


#: above this many cores the map draws cores as collections without numbers or per-core tooltips (a label per
#: core is unreadable there, and 34,000 text artists made saving a ResNet-18 build take minutes)
LABELLED_CORES = 2048
#: pixels per slot side in a large map's image (the core fills the inner CELL - 2)
CELL = 5


def placement_figure(program: Any, sim: Mapping[str, Any] | None = None) -> Any:
    """The placement map as a matplotlib Figure (see the module docstring). ``sim``: a ``simulation`` entry of
    report.json (or a dict with the same keys) whose cycle-engine link loads and per-core energy are shown."""
    import matplotlib
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import MaxNLocator

    t = program.target
    W, H = t.chips_x * t.cores_x, t.chips_y * t.cores_y
    energy_pj = ((sim or {}).get("energy") or {}).get("by_core_pj")
    rows = placement_rows(program, energy_pj)
    order = [i.name for i in program.graph.inputs] + [p.name for p in program.graph.populations]
    layers = sorted({r["layer"] for r in rows}, key=lambda n: (order.index(n) if n in order else len(order), n))
    # the view: the used slots and the host entry plus one free slot around them (the whole grid when small)
    gxs = [r["chip"][0] * t.cores_x + r["x"] for r in rows] or [0]
    gys = [r["chip"][1] * t.cores_y + r["y"] for r in rows] or [0]
    VW, VH = max(min(W, max(gxs) + 2), min(W, 4)), max(min(H, max(gys) + 2), min(H, 4))
    size = min(13.0, max(5.0, 0.55 * max(VW, VH)))
    fig, ax = new_figure(size + 1.6, size * VH / max(VW, 1) + 1.8)
    labelled = len(rows) <= LABELLED_CORES
    if labelled:  # free slots: faint outlines, so the grid is readable
        gx_all, gy_all = np.meshgrid(np.arange(VW), np.arange(VH), indexing="ij")
        ax.add_collection(PolyCollection(_squares(gx_all.ravel(), gy_all.ravel()), facecolor="none",
                                         edgecolor="#e4e4e4", linewidth=0.5, zorder=0))
    simulated = simulated_link_load(sim)
    if simulated is not None:
        loads, label = simulated, "link load: flits / step (cycle engine, simulated)"
    else:
        from spikemesh.routing.routes import link_loads  # imported here: a Speck build never needs routing

        routes = program.routes if program.routes is not None and len(program.routes.flat) else None
        loads = link_loads(routes, Mesh.of(t)) if routes else {}
        label = "link load: spike copies / step (compile-time estimate)"
    if loads:
        segs, vals = [], []
        for (cx, cy, x, y, d), v in sorted(loads.items()):
            gx, gy = cx * t.cores_x + x, cy * t.cores_y + y
            off = 0.1 if d in (0, 2) else -0.1  # opposite directions side by side
            dx, dy = STEP[d]
            segs.append([(gx + off * dy, gy + off * dx), (gx + dx + off * dy, gy + dy + off * dx)])
            vals.append(v)
        inferno = matplotlib.colormaps["inferno"]
        heat = LinearSegmentedColormap.from_list("link_heat", inferno(np.linspace(0.85, 0.05, 256)))
        lc = LineCollection(segs, cmap=heat, linewidths=2.4 if labelled else 0.6, zorder=1, rasterized=not labelled)
        lc.set_array(np.array(vals))
        lc.set_clim(0, max(vals) if max(vals) > 0 else 1)
        ax.add_collection(lc)
        fig.colorbar(lc, ax=ax, fraction=0.035, pad=0.02, label=label)
    font = max(4.0, min(8.0, 110.0 / max(VW, VH)))
    faces: list[Any] = []
    xy: list[tuple[int, int]] = []
    sources: list[tuple[int, int, str]] = []
    for r in rows:
        gx, gy = r["chip"][0] * t.cores_x + r["x"], r["chip"][1] * t.cores_y + r["y"]
        colour = layer_colour(layers.index(r["layer"]))
        face = _mix_white(colour, 0.3 + 0.7 * min(1.0, r["utilisation"])) if r["role"] != "source" else "#ffffff"
        if r["role"] == "source":
            sources.append((gx, gy, colour))
        if labelled:  # one artist per core: its SVG group (id core-N) carries the core's tooltip
            patch = Rectangle((gx - 0.35, gy - 0.35), 0.7, 0.7, facecolor=face, edgecolor=colour, linewidth=1.2,
                              hatch="////" if r["role"] == "partial_sum" else None, zorder=2)
            patch.set_gid(f"core-{r['core']}")
            ax.add_patch(patch)
            ax.text(gx, gy - (0.12 if r["role"] == "source" else 0.0), str(r["core"]), ha="center", va="center",
                    fontsize=font, zorder=4, color="black",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.7}
                    if r["role"] == "partial_sum" else None)
        else:
            faces.append(_mix_black(colour, 0.35) if r["role"] == "partial_sum" else face)
            xy.append((gx, gy))
    if xy:  # a large map: one image, a block of CELL x CELL pixels per slot (the core in its middle, links between)
        from matplotlib.colors import to_rgba_array

        img = np.zeros((VH * CELL, VW * CELL, 4))
        xy_a = np.array(xy, dtype=np.int64)
        rgba = to_rgba_array(faces)
        for dy in range(1, CELL - 1):
            for dx in range(1, CELL - 1):
                img[xy_a[:, 1] * CELL + dy, xy_a[:, 0] * CELL + dx] = rgba
        ax.imshow(img, origin="lower", extent=(-0.5, VW - 0.5, -0.5, VH - 0.5), interpolation="nearest", zorder=2)
    for gx, gy, colour in sources:
        ax.plot([gx], [gy + (0.18 if labelled else 0.0)], marker="^", color=colour,
                markersize=font + 2 if labelled else 3, zorder=3)
    ax.plot([-0.5], [0.0], marker="*", color="black", markersize=14, zorder=5, clip_on=False)
    for i in range(t.chips_x + 1):
        if i * t.cores_x <= VW:
            ax.axvline(i * t.cores_x - 0.5, color="black", lw=1.4, zorder=0.5)
    for j in range(t.chips_y + 1):
        if j * t.cores_y <= VH:
            ax.axhline(j * t.cores_y - 0.5, color="black", lw=1.4, zorder=0.5)
    handles: list[Any] = [Patch(facecolor=layer_colour(i), edgecolor=layer_colour(i), label=name)
                          for i, name in enumerate(layers)]
    roles = {r["role"] for r in rows}
    if "partial_sum" in roles:
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="////",
                             label="partial-sum core (accumulates, forwards to its layer's core)") if labelled else
                       Patch(facecolor=_mix_black("#1f77b4", 0.35), edgecolor="none",
                             label="darker = partial-sum core (accumulates, forwards to its layer's core)"))
    if "source" in roles:
        handles.append(Line2D([], [], marker="^", color="black", linestyle="none",
                              label="source core (replays a graph input)"))
    handles.append(Line2D([], [], marker="*", color="black", markersize=12, linestyle="none",
                          label="host entry (inputs enter at chip 0,0 router 0,0)"))
    handles.append(Patch(facecolor=_mix_white("#1f77b4", 0.3), edgecolor="#1f77b4",
                         label="lighter = fewer neuron slots used"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=7, ncol=2,
              title="layer / marker", title_fontsize=8, frameon=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(-0.7, VW - 0.3)
    ax.set_ylim(-0.7, VH - 0.3)
    ax.set_aspect("equal")
    ax.set_xlabel("x (cores)")
    ax.set_ylabel("y (cores)")
    chips = f", {t.chips_x}x{t.chips_y} chips" if t.chips_x * t.chips_y > 1 else ""
    shown = f"; slots x < {VW}, y < {VH} of {W}x{H} shown" if (VW, VH) != (W, H) else ""
    kind = "simulated" if simulated is not None else "estimated"
    unlabelled = "" if labelled else f"\ncore numbers and tooltips up to {LABELLED_CORES} cores: see placement.csv"
    ax.set_title(f"{t.name}: {len(rows)} cores{chips}, placer {program.placement.placer}; link heat {kind}{shown}"
                 f"{unlabelled}", fontsize=10)
    return fig


def svg_with_tooltips(svg: str, rows: list[dict[str, Any]]) -> str:
    """Insert a ``<title>`` tooltip into each core's group (``<g id="core-N">``) of a matplotlib SVG."""
    tips = {f"core-{r['core']}": _tooltip(r) for r in rows}

    def add(m: re.Match[str]) -> str:
        tip = tips.get(m.group(1))
        return m.group(0) + (f"\n   <title>{html.escape(tip)}</title>" if tip else "")

    return re.sub(r'<g id="(core-\d+)">', add, svg)


def new_figure(width: float, height: float) -> tuple[Any, Any]:
    """(Figure, Axes) not registered with pyplot: no global backend switch (a notebook keeps its inline backend,
    a headless build needs no display); Jupyter shows a returned Figure, ``fig.savefig`` writes it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def figure_bytes(fig: Any, fmt: str) -> bytes:
    """A figure as PNG or SVG bytes, byte-stable: fixed SVG ids (hashsalt), no dates or software stamps."""
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "spikemesh", "svg.fonttype": "path"}):
        fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=110,
                    metadata={"Date": None} if fmt == "svg" else {"Software": None})
    return buf.getvalue()


def placement_svg(program: Any, sim: Mapping[str, Any] | None = None) -> str:
    """The map as SVG text with per-core tooltips."""
    energy_pj = ((sim or {}).get("energy") or {}).get("by_core_pj")
    svg = figure_bytes(placement_figure(program, sim), "svg").decode()
    return svg_with_tooltips(svg, placement_rows(program, energy_pj))


def _atomic_write(path: Path, data: bytes) -> None:
    """``data`` into ``path`` through fileio.atomic_open (a temporary sibling, cleaned after a killed run; an OS
    error names ``path``)."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def draw(program: Any, path: Path, fmt: str, sim: Mapping[str, Any] | None = None) -> None:
    """Draw the map into ``path`` (written atomically)."""
    if fmt == "svg":
        _atomic_write(path, placement_svg(program, sim).encode())
    else:
        _atomic_write(path, figure_bytes(placement_figure(program, sim), fmt))


def export_placement(program: Any, path: Path, fmt: str, sim: Mapping[str, Any] | None = None) -> Path:
    if fmt == "json":
        atomic_write_json(path, placement_json(program))
    elif fmt == "csv":
        _atomic_write(path, placement_csv(program).encode())
    else:
        draw(program, path, fmt, sim)
    return path


def write_placement_files(directory: Path, program: Any, sim: Mapping[str, Any] | None = None) -> str | None:
    """Program.save hook: placement.json, placement.png and placement.svg (link heat from ``sim`` if given), the
    figure built once for both pictures. Returns the SVG text (report.html inlines it) or None without a partition."""
    if program is None or program.partition is None:
        return None
    export_placement(program, directory / "placement.json", "json")
    fig = placement_figure(program, sim)
    _atomic_write(directory / "placement.png", figure_bytes(fig, "png"))
    energy_pj = ((sim or {}).get("energy") or {}).get("by_core_pj")
    svg = svg_with_tooltips(figure_bytes(fig, "svg").decode(), placement_rows(program, energy_pj))
    _atomic_write(directory / "placement.svg", svg.encode())
    return svg
