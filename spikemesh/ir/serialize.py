"""Versioned, checksummed Graph files.

A graph file is a NumPy ``.npz`` archive: ``__meta__`` holds UTF-8 JSON (format name, ``format_version``, the
node structure and a SHA-256 ``checksum`` over the JSON body and every array); the other members are the
arrays. Reading a file from a newer format version, or one whose checksum does not match, fails clearly.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.errors import FileFormatError
from spikemesh.fileio import atomic_open, json_default, npz_bytes
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


def graph_from_parts(body: dict[str, Any], arrays: dict[str, np.ndarray], prefix: str = "") -> Graph:
    pops = []
    for p in body["populations"]:
        pre = f"{prefix}pop/{p['name']}/"
        arrs = {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)}
        pops.append(Population(p["name"], tuple(p["shape"]), Neuron.from_dict(p["neuron"], arrs)))
    projs = []
    for pr in body["projections"]:
        ops = []
        for i, meta in enumerate(pr["ops"]):
            pre = f"{prefix}proj/{pr['name']}/{i}/"
            arrs = {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)}
            ops.append(op_from_dict(meta, arrs))
        projs.append(Projection(pr["name"], pr["source"], pr["target"], tuple(ops), int(pr.get("port", 0))))
    return Graph(
        inputs=tuple(Input(i["name"], tuple(i["shape"])) for i in body["inputs"]),
        populations=tuple(pops),
        projections=tuple(projs),
        outputs=tuple(Output(o["name"], o["source"]) for o in body["outputs"]),
        dt=body["dt"],
        metadata=body.get("metadata", {}),
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
    if not path.exists():
        raise FileFormatError("file not found", node=str(path), hint="check the path")
    if path.is_dir():
        raise FileFormatError("is a directory, expected a file", node=str(path))
    if path.stat().st_size == 0:
        raise FileFormatError("file is empty", node=str(path))
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise FileFormatError(f"not a {fmt} file (a plain .npy array)", node=str(path))
        with z:
            if "__meta__" not in z.files:
                raise FileFormatError(f"not a {fmt} file (no header)", node=str(path))
            meta = json.loads(z["__meta__"].tobytes().decode())
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
    except FileFormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError,
            json.JSONDecodeError, UnicodeDecodeError) as e:
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
    try:
        return graph_from_parts(body, arrays)
    except (KeyError, TypeError) as e:
        raise FileFormatError(f"malformed graph structure ({e})", node=str(path)) from None
