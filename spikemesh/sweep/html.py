"""``sweep.html``: one self-contained page (inline CSS and SVG drawn by matplotlib; no script, no network) with
the Pareto fronts of energy per inference against latency per sample and against cores, one plot per axis with
more than one value, and the results table."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from typing import Any

from spikemesh.sweep.spec import Sweep

_CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em}h2{font-size:1.15em;
margin-top:1.6em}table{border-collapse:collapse;font-size:.8em}td,th{border:1px solid #ccc;padding:2px 6px;
text-align:right;white-space:nowrap}th{background:#f0f0f0;position:sticky;top:0}tr.failed td{background:#fdecec}
tr.pareto td{background:#eaf6ea}.plots{display:flex;flex-wrap:wrap;gap:1em}.plots svg{max-width:100%;height:auto}
.note{color:#555;font-size:.9em}.scroll{overflow:auto;max-height:40em}"""

#: (metric, label) pairs of the two Pareto fronts and of the per-axis plots
ENERGY = ("energy_per_inference_pj", "energy per inference [pJ]")
LATENCY = ("latency_per_sample_s", "latency per sample [s]")
CORES = ("cores", "cores")


def pareto(rows: Sequence[dict[str, Any]], a: str, b: str) -> list[dict[str, Any]]:
    """Rows no other row beats in both ``a`` and ``b`` (smaller is better; rows missing either are left out),
    sorted by ``a``."""
    have = sorted((r for r in rows if r.get(a) is not None and r.get(b) is not None),
                  key=lambda r: (r[a], r[b], r["point"]))
    front: list[dict[str, Any]] = []
    for r in have:
        if not front or r[b] < front[-1][b] or (r[a], r[b]) == (front[-1][a], front[-1][b]):
            front.append(r)
    return front


def _svg(fig: Any, salt: str) -> str:
    """The figure as an inline ``<svg>`` element; ``salt`` (unique per figure of a page) seeds its element ids, so
    the same sweep gives the same page and figures of one page do not share ids."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):  # text as text: the page's font
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", salt) + "-"  # matplotlib's ids (figure_1, patch_2...) repeat per figure
    return re.sub(r'(\bid="|href="#|url\(#)', lambda m: m.group(1) + prefix, text)


def _figure(width: float = 5.0, height: float = 3.6) -> Any:
    import matplotlib
    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.hashsalt"] = "spikemesh-sweep"  # stable element ids: the same sweep, the same page
    return Figure(figsize=(width, height), layout="constrained")


def warm() -> None:
    """Import matplotlib and draw one small labelled figure to SVG (fonts, text layout, the SVG backend), so that
    ``render`` afterwards runs about 0.3 s faster; a parallel sweep calls it while a core is idle near its end."""
    fig = _figure(1.0, 1.0)
    ax = fig.add_subplot()
    ax.scatter([0.0], [0.0], label="a")
    ax.set_xlabel("x")
    ax.legend()
    _svg(fig, "warm")


def _front_plot(rows: list[dict[str, Any]], x: tuple[str, str], y: tuple[str, str]) -> str | None:
    have = [r for r in rows if r.get(x[0]) is not None and r.get(y[0]) is not None]
    if not have:
        return None
    front = pareto(have, x[0], y[0])
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter([r[x[0]] for r in have], [r[y[0]] for r in have], s=14, color="#999", label="points")
    ax.step([r[x[0]] for r in front], [r[y[0]] for r in front], where="post", color="#2a7a2a")
    ax.scatter([r[x[0]] for r in front], [r[y[0]] for r in front], s=28, color="#2a7a2a", label="Pareto front")
    for r in front:
        ax.annotate(str(r["point"]), (r[x[0]], r[y[0]]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(x[1])
    ax.set_ylabel(y[1])
    ax.set_title(f"{y[1].split(' [')[0]} vs {x[1].split(' [')[0]}", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _svg(fig, f"front-{x[0]}-{y[0]}")


def _axis_plot(rows: list[dict[str, Any]], axis: str, values: list[Any], metrics: list[tuple[str, str]]) -> str:
    """Each metric against the axis' values (categorical x, points spread evenly within a value's column)."""
    fig = _figure(4.0 * len(metrics), 3.2)
    labels = [str(v) for v in values]
    for i, (metric, label) in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        for j, v in enumerate(values):
            ys = [r[metric] for r in rows if r.get(axis) == v and r.get(metric) is not None]
            xs = [j + (k - (len(ys) - 1) / 2) * min(0.5 / max(len(ys), 1), 0.08) for k in range(len(ys))]
            ax.scatter(xs, ys, s=12, color="#3b6ea5")
            if ys:
                ax.hlines(sum(ys) / len(ys), j - 0.3, j + 0.3, color="#c0392b", linewidth=1)
        ax.set_xticks(range(len(values)), labels, rotation=30 if max(map(len, labels)) > 8 else 0, fontsize=8)
        ax.set_xlabel(axis)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle(f"by {axis} (red: mean)", fontsize=10)
    return _svg(fig, f"axis-{axis}")


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render(sweep: Sweep, cols: list[str], rows: list[dict[str, Any]]) -> str:
    """The page for ``rows`` (table rows of the sweep's points)."""
    ok = [r for r in rows if r.get("status") == "ok"]
    failed = len(rows) - len(ok)
    simulated = any(r.get(ENERGY[0]) is not None for r in ok)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>spikemesh sweep</title><style>{_CSS}</style>"
             "</head><body>", f"<h1>spikemesh sweep: {html.escape(sweep.source)}</h1>",
             f"<p>{len(rows)} of {len(sweep.points)} points, {failed} failed. Axes: "
             + "; ".join(f"<b>{html.escape(a)}</b> = {html.escape(', '.join(map(str, v)))}"
                         for a, v in sweep.axes.items()) + "</p>"]
    front_keys: set[str] = set()
    if simulated:
        parts.append("<h2>Pareto fronts</h2><p class='note'>Smaller is better on both axes; numbers are point "
                     "indices; the front is green (and green in the table).</p><div class='plots'>")
        for x in (LATENCY, CORES):
            svg = _front_plot(ok, x, ENERGY)
            if svg:
                parts.append(svg)
            front_keys |= {r["key"] for r in pareto(ok, x[0], ENERGY[0])}
        parts.append("</div>")
    varied = [(a, v) for a, v in sweep.axes.items() if len(v) > 1]
    if varied and ok:
        metrics = [ENERGY, LATENCY] if simulated else [CORES, ("hop_weighted_traffic", "hop-weighted traffic")]
        parts.append("<h2>Per axis</h2><div class='plots'>")
        parts += [_axis_plot(ok, a, v, metrics) for a, v in varied]
        parts.append("</div>")
    parts.append("<h2>Results</h2><div class='scroll'><table><tr>"
                 + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
    for r in rows:
        cls = "failed" if r.get("status") != "ok" else "pareto" if r["key"] in front_keys else ""
        parts.append(f"<tr class='{cls}'>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols)
                     + "</tr>")
    parts.append("</table></div></body></html>\n")
    return "\n".join(parts)
