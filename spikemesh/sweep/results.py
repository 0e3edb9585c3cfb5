"""Sweep results on disk: the sweep's description (``DIR/sweep.json``), one JSON file per finished point
(``DIR/points/<key>.json``, written atomically as the point finishes: what a re-run skips), and the table of every
point of the sweep in product order (``results.csv``, ``results.parquet``)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from spikemesh.errors import OutputError
from spikemesh.fileio import atomic_open, atomic_write_json, atomic_write_with, refused_dir
from spikemesh.sweep.point import METRICS
from spikemesh.sweep.spec import Point, Sweep

SWEEP_FORMAT = "spikemesh-sweep"
POINT_FORMAT = "spikemesh-sweep-point"


def check_out(out: Path) -> None:
    """Refuse (OutputError) a results directory that exists and is neither empty nor a sweep's (its ``sweep.json``):
    a sweep writes its files and ``points/`` into it. A sweep's directory may take another sweep: points are keyed
    by their values and files' contents, so the points both share are reused, and the tables describe the last."""
    what = refused_dir(out, _is_sweep, "sweep.json")
    if what is None:
        return
    raise OutputError("refusing to write a sweep here: the path exists and holds no sweep", node=str(out),
                      needed="a new path, an empty directory or a sweep's directory", available=what,
                      hint="choose another -o directory")


def _is_sweep(out: Path) -> bool:
    try:
        head = json.loads((out / "sweep.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(head, dict) and head.get("format") == SWEEP_FORMAT


def point_path(out: Path, point: Point) -> Path:
    return out / "points" / f"{point.key}.json"


def write_point(out: Path, point: Point, metrics: dict[str, Any]) -> None:
    """Record one finished point (atomic: a killed sweep leaves either the whole file or none)."""
    atomic_write_json(point_path(out, point), {"format": POINT_FORMAT, "key": point.key, "values": point.values,
                                               "metrics": metrics})


def read_point(out: Path, point: Point) -> dict[str, Any] | None:
    """The metrics of a finished point, or None when it has not run (or its file is unreadable: it runs again)."""
    p = point_path(out, point)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != POINT_FORMAT or data.get("key") != point.key:
        return None
    metrics = data.get("metrics")
    return metrics if isinstance(metrics, dict) and set(METRICS) <= set(metrics) else None


def columns(sweep: Sweep) -> list[str]:
    """Table columns: ``point`` (index in the product), ``key``, the axes in file order, then METRICS (a metric
    named like an axis, ``chips``, is that axis's column)."""
    return ["point", "key", *sweep.axes, *(m for m in METRICS if m not in sweep.axes)]


def table(sweep: Sweep, finished: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the finished points, in product order. An axis value wins over a metric of the same name (the
    ``chips`` axis keeps the point's grid even when the point failed before reporting one)."""
    return [{"point": p.index, "key": p.key, **finished[p.key], **p.values} for p in sweep.points
            if p.key in finished]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def csv_text(cols: list[str], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in cols])
    return buf.getvalue()


def write_csv(path: Path, cols: list[str], rows: list[dict[str, Any]]) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(csv_text(cols, rows))


def write_parquet(path: Path, cols: list[str], rows: list[dict[str, Any]]) -> bool:
    """Write the table as Parquet; False when pyarrow is not installed (the ``sweep`` extra)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    arrays = {}
    for c in cols:
        values = [r.get(c) for r in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            kind = pa.bool_()
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            kind = pa.int64()
        elif present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            kind = pa.float64()
            values = [None if v is None else float(v) for v in values]
        else:
            kind = pa.string()
            values = [None if v is None else _cell(v) for v in values]
        arrays[c] = pa.array(values, type=kind)
    atomic_write_with(path, lambda tmp: pq.write_table(pa.table(arrays), tmp))
    return True
