"""Reading NIR: a ``.nir`` HDF5 file or ``nir`` node objects → ``RawNode`` trees (plain NumPy data), and nested
NIRGraphs flattened into one level.

The file layout is nir's own (``nir.write``, github.com/neuromorphs/NIR ``nir/serialization.py``): the group
``node`` holds the graph, each node a group with a ``type`` dataset and one dataset per parameter, a graph its
``nodes`` group and an ``edges`` dataset of (source, target) name pairs. Reading does not apply nir's type check
(shapes are checked on import); ``read_checked`` is ``nir.read`` with it, for checking written files.
Repair (with a FrontendWarning): torch tensors inside ``nir`` node objects become NumPy arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import spikemesh.checks as checks
from spikemesh.errors import FileFormatError, FrontendError, SpikemeshError
from spikemesh.frontend.common import to_numpy, warn

NEURON_TYPES = frozenset({"IF", "LIF", "LI", "CubaLIF", "CubaLI", "I", "Threshold"})
OP_TYPES = frozenset({"Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
                      "Delay", "Identity"})
KNOWN_TYPES = NEURON_TYPES | OP_TYPES | {"Input", "Output", "NIRGraph"}


@dataclass
class RawNode:
    """A NIR node as plain data: its type name and parameters (NumPy arrays / scalars)."""

    type: str
    params: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, RawNode] = field(default_factory=dict)  # NIRGraph only
    edges: list[tuple[str, str]] = field(default_factory=list)  # NIRGraph only


def _str(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SO" and v.ndim == 0:
        return _str(v[()])
    return v


def _read_group(grp: Any, name: str, depth: int = 0) -> RawNode:
    if not isinstance(grp, h5py.Group):
        raise FileFormatError("NIR node is not a group", node=name, needed="an HDF5 group with a 'type' entry",
                              available=type(grp).__name__, hint="the file is not a NIR graph")
    if depth > 32:
        raise FileFormatError("NIR subgraphs nested too deep", node=name, needed="<= 32 levels")
    if "type" not in grp or not isinstance(grp["type"], h5py.Dataset):
        raise FileFormatError("NIR node has no 'type' entry", node=name, hint="the file is not a NIR graph")
    typ = _str(grp["type"][()])
    if not isinstance(typ, str):
        raise FileFormatError("NIR node type is not a name", node=name, available=repr(typ)[:60])
    if typ not in KNOWN_TYPES:
        raise FrontendError(f"unknown NIR node type {typ!r}", node=name,
                            hint=f"supported: {', '.join(sorted(KNOWN_TYPES))}")
    if typ == "NIRGraph":
        if "nodes" not in grp or not isinstance(grp["nodes"], h5py.Group):
            raise FileFormatError("NIR graph has no 'nodes' group", node=name, hint="the file is not a NIR graph")
        nodes = {k: _read_group(g, k if name == "<root>" else f"{name}.{k}", depth + 1)
                 for k, g in grp["nodes"].items()}
        edges_raw = _dataset(grp["edges"], name, "edges") if "edges" in grp else np.zeros((0, 2), dtype="S1")
        edges_arr = np.asarray(edges_raw)
        if edges_arr.size % 2 or edges_arr.dtype.kind not in "SUO":
            raise FileFormatError("NIR edges must be (source, target) name pairs", node=name,
                                  available=f"{edges_arr.dtype} {list(edges_arr.shape)}")
        edges = [(_str(a), _str(b)) for a, b in edges_arr.reshape(-1, 2)]
        if not all(isinstance(a, str) and isinstance(b, str) for a, b in edges):
            raise FileFormatError("NIR edges must be (source, target) name pairs", node=name)
        return RawNode("NIRGraph", {}, nodes, edges)
    params: dict[str, Any] = {}
    for k, v in grp.items():
        if k in ("type", "metadata") or not isinstance(v, h5py.Dataset):
            continue
        params[k] = _str(_dataset(v, name, k))
    return RawNode(typ, params)


def _dataset(v: Any, name: str, key: str) -> Any:
    """A dataset's value, refused before reading when it could not fit in memory (a hostile declared shape)."""
    if not isinstance(v, h5py.Dataset):
        raise FileFormatError(f"NIR entry {key!r} is not a dataset", node=name, available=type(v).__name__)
    size = int(np.prod(v.shape, dtype=np.float64)) if v.shape is not None else 0
    checks.memory(float(size) * max(v.dtype.itemsize, 1), f"NIR parameter {key}", name, FileFormatError)
    return v[()]


#: seconds a NIR file may take to read (plus one second per 20 MB) before the reader is stopped
READ_TIMEOUT = 30.0


def read_file(path: str | os.PathLike[str]) -> RawNode:
    """Read a ``.nir`` HDF5 file into RawNodes (without nir's type check; shapes are checked on import). The
    HDF5 library is run in a child process with a time limit (spikemesh.isolate): some corrupt files make it
    loop forever."""
    import spikemesh.isolate as isolate

    p = Path(path)
    if not p.is_file():
        raise FileFormatError("NIR file not found", node=str(p))
    if p.stat().st_size == 0:
        raise FileFormatError("NIR file is empty", node=str(p))
    timeout = READ_TIMEOUT + p.stat().st_size / 20e6
    head, arrays = isolate.run(lambda: _encode(_read_hdf5(p), {}), timeout, "reading the NIR file", str(p))
    root = _decode(head, arrays)
    if root.type != "NIRGraph":
        root = RawNode("NIRGraph", {}, {"node": root}, [])
    return root


def _read_hdf5(p: Path) -> RawNode:
    try:
        with h5py.File(p, "r") as f:
            if "node" not in f:
                raise FileFormatError("not a NIR file (no 'node' group)", node=str(p),
                                      hint="write it with nir.write or spikemesh.save_nir")
            return _read_group(f["node"], "<root>")
    except SpikemeshError as e:
        raise e.at(str(p)) from None
    except MemoryError:
        raise FileFormatError("NIR file too large to read", node=str(p)) from None
    except Exception as e:  # h5py raises many types (OSError, RuntimeError, KeyError...) on corrupt files
        raise FileFormatError(f"cannot read NIR file: truncated or corrupt HDF5 ({type(e).__name__})", node=str(p),
                              hint="re-export the model") from None


def _encode(node: RawNode, arrays: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A RawNode tree as (JSON-able structure, arrays), to cross a process boundary without pickles."""
    params: dict[str, Any] = {}
    for k, v in node.params.items():
        if isinstance(v, np.ndarray | np.generic):
            a = np.asarray(v)
            if a.dtype.kind == "O":
                a = np.array([_str(x) for x in a.reshape(-1)]).reshape(a.shape)
                if a.dtype.kind == "O":
                    a = a.astype(str)
            key = f"a{len(arrays)}"
            arrays[key] = a
            params[k] = {"array": key, "scalar": isinstance(v, np.generic)}
        else:
            params[k] = {"value": v if v is None or isinstance(v, str | int | float | bool) else str(v)}
    nodes = {k: _encode(n, arrays)[0] for k, n in node.nodes.items()}
    return {"type": node.type, "params": params, "nodes": nodes, "edges": [list(e) for e in node.edges]}, arrays


def _decode(head: dict[str, Any], arrays: dict[str, np.ndarray]) -> RawNode:
    params: dict[str, Any] = {}
    for k, v in head["params"].items():
        if "array" in v:
            a = arrays[v["array"]]
            params[k] = a[()] if v["scalar"] else a
        else:
            params[k] = v["value"]
    nodes = {k: _decode(n, arrays) for k, n in head["nodes"].items()}
    return RawNode(head["type"], params, nodes, [(a, b) for a, b in head["edges"]])


def from_nir_object(node: Any, name: str = "<root>", notes: list[str] | None = None) -> RawNode:
    """Convert a ``nir`` node object (NIRGraph or a single node) to RawNodes; torch tensors become NumPy."""
    typ = type(node).__name__
    if typ not in KNOWN_TYPES:
        raise FrontendError(f"unknown NIR node type {typ!r}", node=name,
                            hint=f"supported: {', '.join(sorted(KNOWN_TYPES))}")
    if typ == "NIRGraph":
        nodes = {k: from_nir_object(n, k if name == "<root>" else f"{name}.{k}", notes) for k, n in node.nodes.items()}
        return RawNode("NIRGraph", {}, nodes, [(str(a), str(b)) for a, b in node.edges])
    params: dict[str, Any] = {}
    had_torch = False
    for k, v in vars(node).items():
        if k in ("metadata", "input_type", "output_type"):
            continue
        v, was = to_numpy(v)
        had_torch |= was
        params[k] = v
    if typ == "Input":
        params["shape"] = to_numpy(node.input_type["input"])[0]
    elif typ == "Output":
        params["shape"] = to_numpy(node.output_type["output"])[0]
    elif typ == "Flatten":
        params["input_type"] = (node.input_type or {}).get("input")
    if had_torch:
        warn(f"{name}: torch tensors inside the NIR node were converted to NumPy arrays", notes)
    return RawNode(typ, params)


def flatten_graph(g: RawNode, prefix: str) -> tuple[dict[str, RawNode], list[tuple[str, str]], list[str], list[str]]:
    """Flatten nested NIRGraphs: children named ``sub.child``; a subgraph's own Input / Output nodes become
    pass-through Identity nodes. Returns (nodes, edges, input names, output names) of this level."""
    nodes: dict[str, RawNode] = {}
    edges: list[tuple[str, str]] = []
    ports_in: dict[str, list[str]] = {}
    ports_out: dict[str, list[str]] = {}
    for k, n in g.nodes.items():
        full = f"{prefix}{k}"
        if n.type == "NIRGraph":
            sub_nodes, sub_edges, ins, outs = flatten_graph(n, f"{full}.")
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            for i in ins:
                nodes[i] = RawNode("Identity", {"_port": "input"})
            for o in outs:
                nodes[o] = RawNode("Identity", {"_port": "output"})
            ports_in[full], ports_out[full] = ins, outs
        else:
            nodes[full] = n
    for a, b in g.edges:
        fa, fb = f"{prefix}{a}", f"{prefix}{b}"
        srcs = ports_out.get(fa, [fa])
        dsts = ports_in.get(fb, [fb])
        if len(srcs) != 1 or len(dsts) != 1:
            raise FrontendError("edge to or from a subgraph with several inputs/outputs must name the port",
                                node=f"{fa} -> {fb}", hint="use '<subgraph>.<input name>' in the edge")
        for name in (srcs[0], dsts[0]):
            if name not in nodes:
                raise FrontendError("edge refers to a missing node", node=f"{fa} -> {fb}", available=name,
                                    hint="legacy nested-subgraph files are not supported; re-export the model")
        edges.append((srcs[0], dsts[0]))
    ins = [f"{prefix}{k}" for k, n in g.nodes.items() if n.type == "Input"]
    outs = [f"{prefix}{k}" for k, n in g.nodes.items() if n.type == "Output"]
    return nodes, edges, ins, outs


def read_checked(path: str | os.PathLike[str]) -> Any:
    """``nir.read`` with nir's own type check (``type_check=True`` where the installed nir has it; older nir:
    ``infer_types`` + ``_check_types``)."""
    import inspect

    import nir

    if "type_check" in inspect.signature(nir.read).parameters:
        return nir.read(path, type_check=True)
    g = nir.read(path)
    g.infer_types()
    g._check_types()
    return g
