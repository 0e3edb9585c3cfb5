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
_COLOURS = ("#2a7a2a", "#3b6ea5", "#c0392b", "#8e44ad", "#d68910", "#17a589", "#7f8c8d", "#a04000")


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


def _groups(rows: list[dict[str, Any]], models: list[Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(label, rows) per model when the sweep has several (their fronts and means are not comparable), else one."""
    if len(models) < 2:
        return [("", rows)]
    return [(str(m), [r for r in rows if r.get("model") == m]) for m in models]


def _seconds_axis(ax: Any, which: str, metric: str) -> None:
    """Latency ticks in engineering units (50 µs rather than 0.00005)."""
    if metric == LATENCY[0]:
        from matplotlib.ticker import EngFormatter

        getattr(ax, f"{which}axis").set_major_formatter(EngFormatter(unit="s"))


def _front_plot(rows: list[dict[str, Any]], x: tuple[str, str], y: tuple[str, str], models: list[Any]) -> str | None:
    have = [r for r in rows if r.get(x[0]) is not None and r.get(y[0]) is not None]
    if not have:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for k, (label, group) in enumerate(_groups(have, models)):
        if not group:
            continue
        colour = _COLOURS[k % len(_COLOURS)]
        front = pareto(group, x[0], y[0])
        ax.scatter([r[x[0]] for r in group], [r[y[0]] for r in group], s=14, color=colour, alpha=0.35)
        ax.step([r[x[0]] for r in front], [r[y[0]] for r in front], where="post", color=colour)
        ax.scatter([r[x[0]] for r in front], [r[y[0]] for r in front], s=28, color=colour,
                   label=f"{label}: Pareto front" if label else "Pareto front")
        for r in front:
            ax.annotate(str(r["point"]), (r[x[0]], r[y[0]]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(x[1])
    ax.set_ylabel(y[1])
    _seconds_axis(ax, "x", x[0])
    ax.set_title(f"{y[1].split(' [')[0]} vs {x[1].split(' [')[0]}", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _svg(fig, f"front-{x[0]}-{y[0]}")


def _axis_plot(rows: list[dict[str, Any]], axis: str, values: list[Any], metrics: list[tuple[str, str]],
               models: list[Any]) -> str:
    """Each metric against the axis' values (categorical x, points spread evenly within a value's column), a mean
    line per value (per model and value, in the model's colour, when the sweep has several models)."""
    fig = _figure(4.0 * len(metrics), 3.2)
    labels = [str(v) for v in values]
    groups = _groups(rows, models) if axis != "model" else [("", rows)]
    for i, (metric, label) in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), i + 1)
        for k, (name, group) in enumerate(groups):
            colour = _COLOURS[k % len(_COLOURS)] if name else "#3b6ea5"
            for j, v in enumerate(values):
                ys = [r[metric] for r in group if r.get(axis) == v and r.get(metric) is not None]
                xs = [j + (n - (len(ys) - 1) / 2) * min(0.5 / max(len(ys), 1), 0.08) for n in range(len(ys))]
                ax.scatter(xs, ys, s=12, color=colour, label=name if name and j == 0 and i == 0 else None)
                if ys:
                    ax.hlines(sum(ys) / len(ys), j - 0.3, j + 0.3, color=colour if name else "#c0392b",
                              linewidth=1)
        ax.set_xticks(range(len(values)), labels, rotation=30 if max(map(len, labels)) > 8 else 0, fontsize=8)
        ax.set_xlabel(axis)
        ax.set_ylabel(label)
        _seconds_axis(ax, "y", metric)
        ax.grid(alpha=0.3)
        if i == 0 and len(groups) > 1:
            ax.legend(fontsize=7)
    fig.suptitle(f"by {axis} ({'lines: mean per model' if len(groups) > 1 else 'red: mean'})", fontsize=10)
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
                     "indices; the front is drawn as a line and green in the table (one front per model when the "
                     "sweep has several: different networks are not compared).</p><div class='plots'>")
        models = list(sweep.axes["model"])
        for x in (LATENCY, CORES):
            svg = _front_plot(ok, x, ENERGY, models)
            if svg:
                parts.append(svg)
            for _, group in _groups(ok, models):
                front_keys |= {r["key"] for r in pareto(group, x[0], ENERGY[0])}
        parts.append("</div>")
    varied = [(a, v) for a, v in sweep.axes.items() if len(v) > 1]
    if varied and ok:
        metrics = [ENERGY, LATENCY] if simulated else [CORES, ("hop_weighted_traffic", "hop-weighted traffic")]
        parts.append("<h2>Per axis</h2><div class='plots'>")
        parts += [_axis_plot(ok, a, v, metrics, list(sweep.axes["model"])) for a, v in varied]
        parts.append("</div>")
    parts.append("<h2>Results</h2><div class='scroll'><table><tr>"
                 + "".join(f"<th>{html.escape(c)}</th>" for c in cols) + "</tr>")
    for r in rows:
        cls = "failed" if r.get("status") != "ok" else "pareto" if r["key"] in front_keys else ""
        parts.append(f"<tr class='{cls}'>" + "".join(f"<td>{html.escape(_fmt(r.get(c)))}</td>" for c in cols)
                     + "</tr>")
    parts.append("</table></div></body></html>\n")
    return "\n".join(parts)
