"""Versioned, checksummed Graph files.

A graph file is a NumPy ``.npz`` archive: ``__meta__`` holds UTF-8 JSON (format name, ``format_version``, the
node structure and a SHA-256 ``checksum`` over the JSON body and every array); the other members are the
arrays. Reading a file from a newer format version, or one whose checksum does not match, fails clearly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.errors import FileFormatError, GraphError, located
from spikemesh.fileio import atomic_open, json_default, npz_bytes, read_arrays
from spikemesh.ir.graph import Graph, Input, Output, Population, Projection
from spikemesh.ir.neurons import Neuron
from spikemesh.ir.operators import op_from_dict

FORMAT = "spikemesh-graph"
FORMAT_VERSION = 1


def graph_to_parts(g: Graph, prefix: str = "") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(JSON-able structure, arrays keyed by ``prefix``-qualified names)."""
    arrays: dict[str, np.ndarray] = {}
    pops = []
    for p in g.populations:
        meta, arrs = p.neuron.to_dict()
        for k, v in arrs.items():
            arrays[f"{prefix}pop/{p.name}/{k}"] = v
        pops.append({"name": p.name, "shape": list(p.shape), "neuron": meta})
    projs = []
    for pr in g.projections:
        ops = []
        for i, op in enumerate(pr.ops):
            meta, arrs = op.to_dict()
            for k, v in arrs.items():
                arrays[f"{prefix}proj/{pr.name}/{i}/{k}"] = v
            ops.append(meta)
        entry = {"name": pr.name, "source": pr.source, "target": pr.target, "ops": ops}
        if pr.port:  # only multi-port targets carry it (single-port graphs serialise as before)
            entry["port"] = pr.port
        projs.append(entry)
    body = {
        "dt": g.dt,
        "inputs": [{"name": i.name, "shape": list(i.shape)} for i in g.inputs],
        "populations": pops,
        "projections": projs,
        "outputs": [{"name": o.name, "source": o.source} for o in g.outputs],
        "metadata": g.metadata,
    }
    return body, arrays


def _entries(body: dict[str, Any], key: str, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    items = body.get(key, [])
    if not isinstance(items, list) or not all(isinstance(e, dict) and set(fields) <= set(e) for e in items):
        raise FileFormatError(f"graph {key} must be a list of objects with {', '.join(fields)}", node=key,
                              available=type(items).__name__ if not isinstance(items, list) else "other entries")
    return items


def graph_from_parts(body: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str = "") -> Graph:
    """The Graph of ``graph_to_parts``' output; malformed structure raises a SpikemeshError naming the node."""
    if not isinstance(body, dict):
        raise FileFormatError("graph structure must be an object", available=type(body).__name__)
    inputs = _entries(body, "inputs", ("name", "shape"))
    pop_entries = _entries(body, "populations", ("name", "shape", "neuron"))
    proj_entries = _entries(body, "projections", ("name", "source", "target", "ops"))
    outputs = _entries(body, "outputs", ("name", "source"))
    names = [e["name"] for e in (*inputs, *pop_entries, *proj_entries, *outputs)]
    for n in names:
        if not isinstance(n, str) or not n:
            raise FileFormatError("every node needs a non-empty string name", node=repr(n))
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FileFormatError("duplicate name", node=dup[0], hint="names of nodes and projections are unique")
    pops = []
    for p in pop_entries:
        pre = f"{prefix}pop/{p['name']}/"
        arrs = {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)}
        with located(p["name"], "malformed population", GraphError, hint=None):
            pops.append(Population(p["name"], p["shape"], Neuron.from_dict(p["neuron"], arrs)))
    projs = []
    for pr in proj_entries:
        with located(pr["name"], "malformed projection", GraphError, hint=None):
            if not isinstance(pr["ops"], list):
                raise FileFormatError("ops must be a list", available=type(pr["ops"]).__name__)
            ops = []
            for i, meta in enumerate(pr["ops"]):
                pre = f"{prefix}proj/{pr['name']}/{i}/"
                arrs = {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)}
                ops.append(op_from_dict(meta, arrs))
            projs.append(Projection(pr["name"], pr["source"], pr["target"], tuple(ops), pr.get("port", 0)))
    metadata = body.get("metadata", {})
    return Graph(
        inputs=tuple(Input(i["name"], i["shape"]) for i in inputs),
        populations=tuple(pops),
        projections=tuple(projs),
        outputs=tuple(Output(o["name"], o["source"]) for o in outputs),
        dt=body.get("dt", "missing"),
        metadata=metadata,
    )


def checksum(body: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256(json.dumps(body, sort_keys=True, default=json_default).encode())
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_archive(path: str | Path, fmt: str, version: int, body: dict[str, Any],
                  arrays: dict[str, np.ndarray]) -> None:
    """Write an npz archive with a checksummed JSON header, atomically."""
    meta = {"format": fmt, "format_version": version, "checksum": checksum(body, arrays), "body": body}
    text = json.dumps(meta, default=json_default)
    data = npz_bytes({"__meta__": np.frombuffer(text.encode(), dtype=np.uint8), **arrays})
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def read_archive(path: str | Path, fmt: str, version: int) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify an archive written by ``write_archive``."""
    path = Path(path)
    z = read_arrays(path, f"{fmt} file")
    if not isinstance(z, dict):
        raise FileFormatError(f"not a {fmt} file (a plain .npy array)", node=str(path))
    if "__meta__" not in z:
        raise FileFormatError(f"not a {fmt} file (no header)", node=str(path))
    arrays = {k: v for k, v in z.items() if k != "__meta__"}
    try:
        meta = json.loads(z["__meta__"].tobytes().decode())
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise FileFormatError(f"corrupt or truncated {fmt} file ({type(e).__name__})", node=str(path),
                              hint="re-create the file") from None
    if not isinstance(meta, dict):
        raise FileFormatError(f"not a {fmt} file (bad header)", node=str(path))
    if meta.get("format") != fmt:
        raise FileFormatError(f"not a {fmt} file", node=str(path), needed=fmt, available=meta.get("format"))
    v = meta.get("format_version")
    if not isinstance(v, int) or isinstance(v, bool):
        raise FileFormatError(f"not a {fmt} file (no integer format_version)", node=str(path), available=v)
    if v > version:
        raise FileFormatError("written by a newer spikemesh", node=str(path),
                              needed=f"format_version <= {version}", available=v, hint="upgrade spikemesh")
    body = meta.get("body")
    if not isinstance(body, dict) or checksum(body, arrays) != meta.get("checksum"):
        raise FileFormatError("checksum mismatch: the file is corrupt", node=str(path), hint="re-create the file")
    return body, arrays


def save_graph(g: Graph, path: str | Path) -> None:
    body, arrays = graph_to_parts(g)
    write_archive(path, FORMAT, FORMAT_VERSION, body, arrays)


def load_graph(path: str | Path) -> Graph:
    body, arrays = read_archive(path, FORMAT, FORMAT_VERSION)
    with located(str(path), "malformed graph structure"):
        return graph_from_parts(body, arrays)
