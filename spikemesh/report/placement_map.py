"""Placement exports: placement.json, placement.csv, and the map placement.png / placement.svg
(cores coloured by layer, shaded by neuron utilisation, links drawn by load, chip borders)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.fileio import atomic_open, atomic_write_json, atomic_write_with
from spikemesh.routing.routes import link_loads
from spikemesh.target.topology import STEP, Mesh


def placement_rows(program: Any) -> list[dict[str, Any]]:
    part, pl = program.partition, program.placement
    neurons_cap = program.target.core.neurons
    rows = []
    for c, xy in zip(part.cores, pl.coords):
        layer = c.layers[0] if c.layers else ""
        rows.append({"core": c.index, "group": c.group, "layer": layer, "layers": list(c.layers), "role": c.role,
                     "neurons": list(c.neurons.get(layer, (0, 0))), "chip": [int(xy[0]), int(xy[1])],
                     "x": int(xy[2]), "y": int(xy[3]), "use": dict(c.use),
                     "utilisation": round(c.use.get("neurons", 0) / max(1, neurons_cap), 4)})
    return rows


def placement_json(program: Any) -> dict[str, Any]:
    t = np.asarray(program.partition.traffic).reshape(-1, 3)
    return {"cores": placement_rows(program),
            "traffic": [[int(s), int(d), float(c)] for s, d, c in t]}


def placement_csv(program: Any) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["core", "group", "layer", "role", "neuron_start", "neuron_stop", "chip_x", "chip_y", "x", "y",
                "neurons", "axons", "synapse_bits"])
    for r in placement_rows(program):
        w.writerow([r["core"], r["group"], r["layer"], r["role"], *r["neurons"], *r["chip"], r["x"], r["y"],
                    r["use"].get("neurons", 0), r["use"].get("axons", 0), r["use"].get("synapse_bits", 0)])
    return buf.getvalue()


def draw(program: Any, path: Path, fmt: str) -> None:
    """Draw the map into ``path`` (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    t = program.target
    W, H = t.chips_x * t.cores_x, t.chips_y * t.cores_y
    rows = placement_rows(program)
    order = [i.name for i in program.graph.inputs] + [p.name for p in program.graph.populations]
    layers = sorted({r["layer"] for r in rows}, key=lambda n: (order.index(n) if n in order else len(order), n))
    cmap = plt.get_cmap("tab20")
    size = min(14.0, max(5.0, 0.25 * max(W, H)))
    fig, ax = plt.subplots(figsize=(size, size * H / max(W, 1) + 0.8))
    for r in rows:
        gx, gy = r["chip"][0] * t.cores_x + r["x"], r["chip"][1] * t.cores_y + r["y"]
        color = cmap(layers.index(r["layer"]) % 20)
        ax.add_patch(plt.Rectangle((gx - 0.4, gy - 0.4), 0.8, 0.8, facecolor=color,
                                   alpha=0.35 + 0.65 * min(1.0, r["utilisation"]), edgecolor="none"))
    routes = program.routes if program.routes is not None and len(program.routes.flat) else None
    loads = link_loads(routes, Mesh.of(t)) if routes else {}
    if loads:
        segs, vals = [], []
        for (cx, cy, x, y, d), v in loads.items():
            gx, gy = cx * t.cores_x + x, cy * t.cores_y + y
            off = 0.08 if d in (0, 2) else -0.08  # opposite directions side by side
            dx, dy = STEP[d]
            segs.append([(gx + off * dy, gy + off * dx), (gx + dx + off * dy, gy + dy + off * dx)])
            vals.append(v)
        lc = LineCollection(segs, cmap="inferno_r", linewidths=1.5)
        lc.set_array(np.array(vals))
        ax.add_collection(lc)
        fig.colorbar(lc, ax=ax, fraction=0.03, label="link load (spike copies / step)")
    for i in range(t.chips_x + 1):
        ax.axvline(i * t.cores_x - 0.5, color="black", lw=1.2)
    for j in range(t.chips_y + 1):
        ax.axhline(j * t.cores_y - 0.5, color="black", lw=1.2)
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i % 20)) for i in range(len(layers))]
    ax.legend(handles, layers, loc="upper left", bbox_to_anchor=(1.12, 1.0), fontsize=7, title="layer")
    ax.set_xlim(-0.6, W - 0.4)
    ax.set_ylim(-0.6, H - 0.4)
    ax.set_aspect("equal")
    ax.set_title(f"{t.name}: {len(rows)} cores, placer {program.placement.placer}")
    try:
        with plt.rc_context({"svg.hashsalt": "spikemesh"}):  # fixed clip-path ids: same inputs, same bytes
            atomic_write_with(path, lambda tmp: fig.savefig(
                tmp, format=fmt, bbox_inches="tight", dpi=110,
                metadata={"Date": None} if fmt == "svg" else {"Software": None}))
    finally:
        plt.close(fig)


def export_placement(program: Any, path: Path, fmt: str) -> Path:
    if fmt == "json":
        atomic_write_json(path, placement_json(program))
    elif fmt == "csv":
        with atomic_open(path, "w") as f:
            f.write(placement_csv(program))
    else:
        draw(program, path, fmt)
    return path


def write_placement_files(directory: Path, program: Any) -> None:
    """Program.save hook: placement.json, placement.png and placement.svg."""
    if program is None or program.partition is None:
        return
    export_placement(program, directory / "placement.json", "json")
    export_placement(program, directory / "placement.png", "png")
    export_placement(program, directory / "placement.svg", "svg")



