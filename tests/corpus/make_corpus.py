"""Write the bad-input corpus: ``files/`` (mutated models, targets, inputs and builds) and ``cases.json`` (one CLI
command per case). Run from the repository root: ``PYTHONPATH=. python tests/corpus/make_corpus.py``; the output is
deterministic except the solver wall times recorded inside the build reports. ``files/nir/heap_loop.nir`` was found
by fuzzing and is kept as found. Every case must end with exit status 2 and one line on stderr (tests/test_corpus.py).

Each mutation keeps the file's checksum valid where the format has one, so the case reaches the check it is
about (a dt that is text, a negative threshold...) instead of stopping at "checksum mismatch".
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from spikemesh.fileio import npz_bytes
from spikemesh.ir import (
    IF,
    LIF,
    Conv2d,
    Dense,
    Flatten,
    Graph,
    Input,
    Integrator,
    Output,
    Population,
    Projection,
    SumPool2d,
)
from spikemesh.ir.serialize import FORMAT, FORMAT_VERSION, checksum, graph_to_parts, read_archive, write_archive

HERE = Path(__file__).resolve().parent
OUT = HERE / "files"
CASES: list[dict[str, Any]] = []


def case(name: str, kind: str, *argv: str, issue: str) -> None:
    """One case: ``argv`` with ``{C}`` for the corpus files directory and ``{T}`` for a fresh scratch directory."""
    CASES.append({"name": name, "kind": kind, "issue": issue, "argv": list(argv)})


def base_graph() -> Graph:
    rng = np.random.default_rng(0)
    return Graph(
        inputs=(Input("in", (2, 8, 8)),),
        populations=(Population("c1", (4, 8, 8), LIF(0.875)), Population("p", (64,), IF()),
                     Population("o", (3,), Integrator())),
        projections=(Projection("a", "in", "c1", (Conv2d(rng.integers(-3, 4, (4, 2, 3, 3)).astype(float),
                                                          padding=1),)),
                     Projection("b", "c1", "p", (SumPool2d(2), Flatten())),
                     Projection("c", "p", "o", (Dense(rng.integers(-3, 4, (3, 64)).astype(float)),))),
        outputs=(Output("out", "o"),),
    )


# ------------------------------------------------------------------------------------------------ .smg
def smg(name: str, mutate: Callable[[dict[str, Any], dict[str, np.ndarray]], None], issue: str,
        command: str = "info") -> None:
    body, arrays = graph_to_parts(base_graph())
    body = json.loads(json.dumps(body))
    mutate(body, arrays)
    write_archive(OUT / "smg" / f"{name}.smg", FORMAT, FORMAT_VERSION, body, arrays)
    if command == "info":
        case(f"smg-{name}", "smg", "info", f"{{C}}/smg/{name}.smg", issue=issue)
    else:
        case(f"smg-{name}", "smg", "compile", f"{{C}}/smg/{name}.smg", "-o", "{T}/build", issue=issue)


def pop(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in body["populations"] if p["name"] == name)


def setv(d: dict[str, Any], key: str, value: Any) -> Callable[[dict[str, Any], dict[str, np.ndarray]], None]:
    return lambda b, a: d.__setitem__(key, value)


def make_smg() -> None:
    def body_set(key: str, value: Any) -> Callable[[dict[str, Any], dict[str, np.ndarray]], None]:
        return lambda b, a: b.__setitem__(key, value)

    def input_shape(value: Any) -> Callable[[dict[str, Any], dict[str, np.ndarray]], None]:
        return lambda b, a: b["inputs"][0].__setitem__("shape", value)

    def neuron(pop_name: str, key: str, value: Any) -> Callable[[dict[str, Any], dict[str, np.ndarray]], None]:
        return lambda b, a: pop(b, pop_name)["neuron"].__setitem__(key, value)

    def array(key: str, value: Any) -> Callable[[dict[str, Any], dict[str, np.ndarray]], None]:
        return lambda b, a: a.__setitem__(key, np.asarray(value))

    smg("dt_text", body_set("dt", "fast"), "3")
    smg("dt_zero", body_set("dt", 0.0), "4")
    smg("dt_negative", body_set("dt", -1e-3), "4")
    smg("dt_nan", body_set("dt", float("nan")), "4")
    smg("dt_null", body_set("dt", None), "3")
    smg("dt_list", body_set("dt", [1e-3]), "3")
    smg("input_shape_text", input_shape(["a", "b"]), "3")
    smg("input_shape_string", input_shape("2x8x8"), "3")
    smg("input_shape_negative", input_shape([-2, 8, 8]), "3")
    smg("input_shape_zero", input_shape([0, 8, 8]), "3")
    smg("input_shape_float", input_shape([2.5, 8, 8]), "3")
    smg("input_shape_huge", input_shape([100000, 100000, 100000]), "3")
    smg("input_shape_nested", input_shape([[2, 8], 8]), "3")
    smg("pop_shape_lots", lambda b, a: pop(b, "p").__setitem__("shape", "lots"), "3")
    smg("pop_shape_bool", lambda b, a: pop(b, "p").__setitem__("shape", [True]), "3")
    smg("neuron_kind_unknown", neuron("p", "kind", "Quantum"), "3")
    smg("neuron_kind_number", neuron("p", "kind", 3), "3")
    smg("neuron_field_unknown", neuron("p", "colour", "red"), "3")
    smg("neuron_refractory_negative", neuron("p", "refractory", -1), "4")
    smg("neuron_refractory_text", neuron("p", "refractory", "x"), "3")
    smg("neuron_state_bits_huge", neuron("p", "state_bits", 1000), "4")
    smg("neuron_vmin_above_vmax", lambda b, a: pop(b, "c1")["neuron"].update(v_min=5.0, v_max=-5.0), "4")
    smg("neuron_reset_unknown", neuron("p", "reset", "sometimes"), "3")
    smg("neuron_ports_zero", neuron("p", "ports", 0), "4")
    smg("threshold_zero", array("pop/p/threshold", 0.0), "4")
    smg("threshold_negative", array("pop/c1/threshold", -1.0), "4")
    smg("threshold_text", array("pop/p/threshold", "high"), "3")
    smg("beta_above_one", array("pop/c1/beta", 1.5), "4")
    smg("beta_negative", array("pop/c1/beta", -0.25), "4")
    smg("beta_nan", array("pop/c1/beta", np.nan), "4")
    smg("beta_inf", array("pop/c1/beta", np.inf), "4")
    smg("weight_text", array("proj/c/0/weight", np.full((3, 64), "w")), "3")
    smg("weight_bytes", array("proj/c/0/weight", np.full((3, 64), b"w")), "3")
    smg("weight_complex", array("proj/c/0/weight", np.ones((3, 64)) * (1 + 2j)), "4")
    smg("weight_nan", array("proj/c/0/weight", np.full((3, 64), np.nan)), "4")
    smg("weight_wrong_shape", array("proj/c/0/weight", np.ones((3, 65))), "3")
    smg("weight_missing", lambda b, a: a.pop("proj/c/0/weight"), "3")
    smg("conv_stride_zero", lambda b, a: b["projections"][0]["ops"][0].__setitem__("stride", [0, 0]), "3")
    smg("conv_stride_text", lambda b, a: b["projections"][0]["ops"][0].__setitem__("stride", "2"), "3")
    smg("conv_groups_zero", lambda b, a: b["projections"][0]["ops"][0].__setitem__("groups", 0), "3")
    smg("op_unknown", lambda b, a: b["projections"][2]["ops"][0].__setitem__("op", "Magic"), "3")
    smg("op_field_unknown", lambda b, a: b["projections"][2]["ops"][0].__setitem__("colour", 1), "3")
    smg("op_not_object", lambda b, a: b["projections"][2].__setitem__("ops", ["Dense"]), "3")
    smg("ops_not_list", lambda b, a: b["projections"][2].__setitem__("ops", {"op": "Dense"}), "3")
    smg("delay_huge", lambda b, a: (b["projections"][2]["ops"].insert(0, {"op": "Delay"}),
                                    a.__setitem__("proj/c/0/steps", np.asarray(10**12)),
                                    a.__setitem__("proj/c/1/weight", a.pop("proj/c/0/weight"))), "3")
    smg("port_text", lambda b, a: b["projections"][2].__setitem__("port", "x"), "3")
    smg("duplicate_population", lambda b, a: b["populations"].append(dict(pop(b, "p"), neuron={"kind": "LIF"})),
        "5")
    smg("source_missing", lambda b, a: b["projections"][2].__setitem__("source", "ghost"), "3")
    smg("target_is_input", lambda b, a: b["projections"][2].__setitem__("target", "in"), "3")
    smg("cycle_without_delay", lambda b, a: b["projections"].append(
        {"name": "back", "source": "c1", "target": "c1", "ops": [{"op": "Identity"}]}), "3")
    smg("populations_dict", body_set("populations", {"p": 1}), "3")
    smg("populations_missing", lambda b, a: b.pop("populations"), "3")
    smg("population_entry_number", body_set("populations", [1, 2]), "3")
    smg("name_number", lambda b, a: pop(b, "p").__setitem__("name", 7), "3")
    smg("name_empty", lambda b, a: pop(b, "o").__setitem__("name", ""), "3")
    smg("metadata_list", body_set("metadata", [1, 2]), "3", command="compile")
    smg("outputs_source_missing", lambda b, a: b["outputs"][0].__setitem__("source", "ghost"), "3")

    # a 3e8-neuron model (a 1x1 conv over a 17,321 x 17,321 map): refused before partitioning
    n = math.isqrt(300_000_000) + 1
    big = Graph(inputs=(Input("in", (1, n, n)),),
                populations=(Population("c", (1, n, n), LIF(0.5)),),
                projections=(Projection("a", "in", "c", (Conv2d(np.ones((1, 1, 1, 1))),)),),
                outputs=(Output("out", "c"),))
    big.save(OUT / "smg" / "neurons_3e8.smg")
    case("smg-neurons_3e8-tianjic", "smg", "compile", "{C}/smg/neurons_3e8.smg", "-t", "tianjic", "-o",
         "{T}/build", issue="2")
    case("smg-neurons_3e8-loihi2x2", "smg", "compile", "{C}/smg/neurons_3e8.smg", "-t", "loihi:2x2", "-o",
         "{T}/build", issue="2")

    # raw corruption of a valid file
    good = OUT / "smg" / "good.smg"
    base_graph().save(good)
    raw = good.read_bytes()
    writes = {
        "truncated_half": raw[: len(raw) // 2],
        "truncated_tail": raw[:-20],
        "empty": b"",
        "text": b"this is not a model\n",
        "flipped_middle": raw[: len(raw) // 2] + bytes(b ^ 0xFF for b in raw[len(raw) // 2: len(raw) // 2 + 64])
        + raw[len(raw) // 2 + 64:],
    }
    for name, data in writes.items():
        (OUT / "smg" / f"{name}.smg").write_bytes(data)
        case(f"smg-{name}", "smg", "info", f"{{C}}/smg/{name}.smg", issue="3")
    np.save(OUT / "smg" / "plain_npy.npy", np.zeros(3))
    shutil.move(OUT / "smg" / "plain_npy.npy", OUT / "smg" / "plain_npy.smg")
    case("smg-plain_npy", "smg", "info", "{C}/smg/plain_npy.smg", issue="3")

    body, arrays = read_archive(good, FORMAT, FORMAT_VERSION)
    for name, meta in (
        ("checksum_mismatch", {"format": FORMAT, "format_version": 1, "checksum": "0" * 64, "body": body}),
        ("newer_version", {"format": FORMAT, "format_version": 99, "checksum": checksum(body, arrays), "body": body}),
        ("wrong_format", {"format": "other", "format_version": 1, "checksum": checksum(body, arrays), "body": body}),
        ("meta_list", [1, 2, 3]),
    ):
        text = json.dumps(meta).encode()
        data = npz_bytes({"__meta__": np.frombuffer(text, dtype=np.uint8), **arrays})
        (OUT / "smg" / f"{name}.smg").write_bytes(data)
        case(f"smg-{name}", "smg", "info", f"{{C}}/smg/{name}.smg", issue="3")
    data = npz_bytes({"__meta__": np.frombuffer(b"{not json", dtype=np.uint8), **arrays})
    (OUT / "smg" / "meta_not_json.smg").write_bytes(data)
    case("smg-meta_not_json", "smg", "info", "{C}/smg/meta_not_json.smg", issue="3")
    huge_header(good, OUT / "smg" / "member_huge_shape.smg", "proj/c/0/weight.npy")
    case("smg-member_huge_shape", "smg", "info", "{C}/smg/member_huge_shape.smg", issue="3")


def huge_header(src: Path, dst: Path, member: str) -> None:
    """Copy an npz archive with one member's .npy header declaring a shape of terabytes."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                data = npy_with_shape(data, (1_000_000, 1_000_000))
            zout.writestr(info, data)


def npy_with_shape(data: bytes, shape: tuple[int, ...]) -> bytes:
    """An .npy file's bytes with the header's shape replaced (the data left as it was)."""
    hlen = int.from_bytes(data[8:10], "little")
    header = data[10:10 + hlen].decode("latin1")
    start, end = header.index("'shape': (") + len("'shape': ("), header.index(")", header.index("'shape'"))
    new = header[:start] + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + header[end:]
    new = new.rstrip("\n").rstrip() + " " * max(0, hlen - len(new.rstrip("\n").rstrip()) - 1) + "\n"
    if len(new) != hlen:
        raise AssertionError("header length changed")
    return data[:10] + new.encode("latin1") + data[10 + hlen:]


# ------------------------------------------------------------------------------------------------ .nir
def make_nir() -> None:
    import spikemesh

    good = OUT / "nir" / "good.nir"
    g = Graph(inputs=(Input("x", (4,)),), populations=(Population("h", (3,), IF(threshold=2.0, reset="zero")),),
              projections=(Projection("w", "x", "h", (Dense(np.arange(12.0).reshape(3, 4) - 5.0),)),),
              outputs=(Output("y", "h"),))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spikemesh.save_nir(g, good)
    raw = good.read_bytes()
    for name, data in (("truncated", raw[: len(raw) // 2]), ("empty", b""), ("text", b"not hdf5\n"),
                       ("flipped_header", bytes(b ^ 0xFF for b in raw[:16]) + raw[16:])):
        (OUT / "nir" / f"{name}.nir").write_bytes(data)
        case(f"nir-{name}", "nir", "info", f"{{C}}/nir/{name}.nir", issue="3")

    def variant(name: str, edit: Callable[[h5py.File], None], issue: str = "3") -> None:
        dst = OUT / "nir" / f"{name}.nir"
        shutil.copy(good, dst)
        with h5py.File(dst, "r+") as f:
            edit(f)
        case(f"nir-{name}", "nir", "info", f"{{C}}/nir/{name}.nir", issue=issue)

    def replace(path: str, value: Any) -> Callable[[h5py.File], None]:
        def edit(f: h5py.File) -> None:
            del f[path]
            f[path] = value
        return edit

    nodes = "node/nodes"
    variant("nodes_dataset", replace(nodes, np.arange(3)))
    variant("no_node_group", lambda f: f.__delitem__("node"))
    variant("node_is_dataset", replace(f"{nodes}/h", np.arange(3)))
    variant("type_unknown", replace(f"{nodes}/h/type", b"Quantum"))
    variant("type_number", replace(f"{nodes}/h/type", 5))
    variant("weight_text", replace(f"{nodes}/w/weight", np.full((3, 4), b"w")))
    variant("weight_nan", replace(f"{nodes}/w/weight", np.full((3, 4), np.nan)), "4")
    variant("weight_wrong_shape", replace(f"{nodes}/w/weight", np.ones((3, 5))))
    variant("input_shape_text", replace(f"{nodes}/x/shape", np.array([b"a", b"b"])))
    variant("input_shape_huge", replace(f"{nodes}/x/shape", np.array([10**7, 10**7])))
    variant("input_shape_negative", replace(f"{nodes}/x/shape", np.array([-4])))
    variant("threshold_nan", replace(f"{nodes}/h/v_threshold", np.full(3, np.nan)), "4")
    variant("threshold_zero", replace(f"{nodes}/h/v_threshold", np.zeros(3)), "4")
    variant("threshold_text", replace(f"{nodes}/h/v_threshold", b"high"))
    variant("edges_missing_node", replace("node/edges", np.array([[b"x", b"ghost"]])))
    variant("edges_numbers", replace("node/edges", np.arange(4).reshape(2, 2)))
    variant("edges_odd", replace("node/edges", np.array([b"x", b"w", b"h"])))

    lif = OUT / "nir" / "lif.nir"
    import nir

    ng = nir.NIRGraph(nodes={"x": nir.Input(np.array([3])), "w": nir.Linear(np.eye(3)),
                             "h": nir.LIF(tau=np.full(3, 1e-5), r=np.ones(3), v_leak=np.zeros(3),
                                          v_threshold=np.ones(3)),
                             "y": nir.Output(np.array([3]))},
                      edges=[("x", "w"), ("w", "h"), ("h", "y")])
    nir.write(lif, ng)
    case("nir-tau_below_dt", "nir", "info", "{C}/nir/lif.nir", issue="4")
    ng.nodes["h"] = nir.LIF(tau=np.full(3, -1.0), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))
    nir.write(OUT / "nir" / "tau_negative.nir", ng)
    case("nir-tau_negative", "nir", "info", "{C}/nir/tau_negative.nir", issue="4")


# ------------------------------------------------------------------------------------------------ TOML
GOOD_TOML = """name = "chip"
family = "mesh"
clock_hz = 1e8
features = ["LIF", "IF", "Integrator", "reset_subtract", "multicast"]
[chips]
x = 1
y = 1
[chip]
cores_x = 4
cores_y = 4
[core]
neurons = 256
axons = 256
synapse_bits = 524288
[noc]
hop_cycles = 1
buffer_flits = 4
[energy]
synop_pj = 1.0
"""


def toml(name: str, text: str, issue: str = "3") -> None:
    (OUT / "toml" / f"{name}.toml").write_text(text)
    case(f"toml-{name}", "toml", "compile", "{C}/smg/good.smg", "-t", f"{{C}}/toml/{name}.toml", "-o", "{T}/build",
         issue=issue)


def sub(old: str, new: str) -> str:
    if old not in GOOD_TOML:
        raise AssertionError(old)
    return GOOD_TOML.replace(old, new)


def make_toml() -> None:
    toml("neurons_lots", sub("neurons = 256", 'neurons = "lots"'))
    toml("neurons_zero", sub("neurons = 256", "neurons = 0"))
    toml("neurons_float", sub("neurons = 256", "neurons = 2.5"))
    toml("neurons_bool", sub("neurons = 256", "neurons = true"))
    toml("chip_list", sub("[chip]\ncores_x = 4\ncores_y = 4\n", "chip = [1, 2]\n"))
    toml("core_string", sub("[core]\nneurons = 256\naxons = 256\nsynapse_bits = 524288\n", 'core = "big"\n'))
    toml("cores_million", sub("cores_x = 4\ncores_y = 4", "cores_x = 1000000\ncores_y = 1000000"), "2")
    toml("chips_million", sub("x = 1\ny = 1", "x = 100000\ny = 100000"), "2")
    toml("cores_x_negative", sub("cores_x = 4", "cores_x = -4"))
    toml("family_unknown", sub('family = "mesh"', 'family = "quantum"'), "4")
    toml("clock_negative", sub("clock_hz = 1e8", "clock_hz = -1e8"), "4")
    toml("clock_nan", sub("clock_hz = 1e8", "clock_hz = nan"), "4")
    toml("clock_text", sub("clock_hz = 1e8", 'clock_hz = "fast"'), "3")
    toml("hop_negative", sub("hop_cycles = 1", "hop_cycles = -1"), "4")
    toml("buffer_zero", sub("buffer_flits = 4", "buffer_flits = 0"), "4")
    toml("buffer_negative", sub("buffer_flits = 4", "buffer_flits = -4"), "4")
    toml("energy_nan", sub("synop_pj = 1.0", "synop_pj = nan"), "4")
    toml("energy_negative", sub("synop_pj = 1.0", "synop_pj = -1.0"), "4")
    toml("energy_inf", sub("synop_pj = 1.0", "synop_pj = inf"), "4")
    toml("features_string", sub('features = ["LIF", "IF", "Integrator", "reset_subtract", "multicast"]',
                                'features = "LIF"'), "5")
    toml("features_unknown", sub('"multicast"]', '"multicast", "telepathy"]'), "4")
    toml("name_missing", sub('name = "chip"\n', ""))
    toml("name_number", sub('name = "chip"', "name = 5"))
    toml("key_unknown", sub("hop_cycles = 1", "hop_cycles = 1\nwormholes = 3"))
    toml("weight_bits_huge", sub("synapse_bits = 524288", "synapse_bits = 524288\nweight_bits = 100"), "4")
    toml("cores_count_mismatch", sub("[core]\nneurons = 256\naxons = 256\nsynapse_bits = 524288\n",
                                     "[[cores]]\nneurons = 256\naxons = 256\nsynapse_bits = 8\n"))
    toml("noc_list", sub("[noc]\nhop_cycles = 1\nbuffer_flits = 4\n", "noc = [1]\n"))
    toml("not_toml", "name = \n[[[")
    toml("empty", "")
    (OUT / "toml" / "binary.toml").write_bytes(bytes(range(256)))
    case("toml-binary", "toml", "compile", "{C}/smg/good.smg", "-t", "{C}/toml/binary.toml", "-o", "{T}/build",
         issue="3")
    for name, spec, issue in (("grid_huge", "tianjic:1000x1000", "2"), ("grid_zero", "tianjic:0x1", "3"),
                              ("grid_loihi_huge", "loihi:400x400", "2"), ("preset_unknown", "quantumchip", "3"),
                              ("toml_missing", "{C}/toml/nothere.toml", "3")):
        case(f"target-{name}", "toml", "compile", "{C}/smg/good.smg", "-t", spec, "-o", "{T}/build", issue=issue)


# ------------------------------------------------------------------------------------------------ inputs
def make_inputs() -> None:
    rng = np.random.default_rng(1)
    good = (rng.random((5, 1, 2, 8, 8)) < 0.5).astype(np.uint8)
    d = OUT / "inputs"

    def npy(name: str, arr: Any, issue: str = "3", allow_pickle: bool = False) -> None:
        np.save(d / f"{name}.npy", arr, allow_pickle=allow_pickle)
        case(f"input-{name}", "input", "simulate", "{C}/smg/good.smg", "--input", f"{{C}}/inputs/{name}.npy",
             issue=issue)

    npy("strings", np.full((5, 1, 2, 8, 8), "1"))
    npy("objects", np.array([object()] * 3, dtype=object), allow_pickle=True)
    npy("complex", good.astype(np.complex128) * (1 + 1j), "4")
    npy("zero_steps", np.zeros((0, 1, 2, 8, 8)))
    npy("zero_batch", np.zeros((5, 0, 2, 8, 8)))
    npy("nan", np.where(good, np.nan, 0.0), "4")
    npy("inf", np.where(good, np.inf, 0.0), "4")
    npy("overflow_2_62", good.astype(np.int64) * 2**62, "4")
    npy("huge_float", good * 1e300, "4")
    npy("wrong_shape", np.zeros((5, 1, 3, 8, 8)))
    npy("scalar", np.float64(1.0))
    npy("one_dim", np.zeros(128))
    npy("records", np.zeros(4, dtype=[("a", "i4"), ("b", "f8")]))
    np.save(d / "good.npy", good)
    raw = (d / "good.npy").read_bytes()
    for name, data in (("truncated", raw[: len(raw) // 2]), ("empty", b""), ("text", b"1 2 3\n"),
                       ("huge_header", npy_with_shape(raw, (10**6, 10**6, 2, 8, 8)))):
        (d / f"{name}.npy").write_bytes(data)
        case(f"input-{name}", "input", "simulate", "{C}/smg/good.smg", "--input", f"{{C}}/inputs/{name}.npy",
             issue="3")
    np.savez(d / "no_inputs_key.npz", data=good)
    case("input-no_inputs_key", "input", "simulate", "{C}/smg/good.smg", "--input", "{C}/inputs/no_inputs_key.npz",
         issue="3")

    def events(name: str, issue: str = "3", **fields: Any) -> None:
        ev = {"x": np.array([1, 2, 3]), "y": np.array([0, 1, 2]), "p": np.array([0, 1, 0]),
              "t": np.array([0.0, 0.001, 0.002])}
        ev.update(fields)
        np.savez(d / f"{name}.npz", **ev)
        case(f"input-{name}", "input", "simulate", "{C}/smg/good.smg", "--input", f"{{C}}/inputs/{name}.npz",
             issue=issue)

    events("events_negative_time", t=np.array([-1.0, 0.0, 0.001]))
    events("events_nan_time", t=np.array([np.nan, 0.0, 0.001]))
    events("events_huge_time", "2", t=np.array([0.0, 0.001, 1e12]))
    events("events_x_out_of_range", x=np.array([1, 2, 300]))
    events("events_text", x=np.array(["a", "b", "c"]))
    events("events_lengths_differ", y=np.array([0, 1]))
    events("events_fractional_x", x=np.array([0.5, 1.0, 2.0]))
    events("events_batch_negative", b=np.array([0, -1, 0]))
    case("input-missing", "input", "simulate", "{C}/smg/good.smg", "--input", "{C}/inputs/nothere.npy", issue="3")
    case("input-directory", "input", "simulate", "{C}/smg/good.smg", "--input", "{C}/inputs", issue="3")


# ------------------------------------------------------------------------------------------------ builds
def make_builds() -> None:
    import spikemesh
    from spikemesh.program import Program

    good = OUT / "builds" / "good"
    if good.exists():
        shutil.rmtree(good)
    program = spikemesh.compile(base_graph(), "tianjic", placer="rowmajor", routing="xy", time_limit=1.0)
    program.with_report(time={}).save(good)  # no wall times: the files are the same on every run
    keep = {"program.json", "weights.npz", "report.json"}
    for f in good.iterdir():
        if f.name not in keep:
            f.unlink()
    head = json.loads((good / "program.json").read_text())
    with np.load(good / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    Program.load(good)

    def build(name: str, edit: Callable[[dict[str, Any]], None], issue: str = "3", fix_checksum: bool = True,
              command: str = "simulate") -> None:
        dst = OUT / "builds" / name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(good, dst)
        h = json.loads(json.dumps(head))
        edit(h)
        if fix_checksum:
            body = {k: h.get(k) for k in ("graph", "target", "options", "sections", "report")}
            h["checksum"] = checksum(body, arrays)
        (dst / "program.json").write_text(json.dumps(h))
        if command == "simulate":
            case(f"build-{name}", "build", "simulate", f"{{C}}/builds/{name}", "--input", "{C}/inputs/good.npy",
                 issue=issue)
        else:
            case(f"build-{name}", "build", "export", "placement", f"{{C}}/builds/{name}", "-f", "json", "-o",
                 "{T}/p.json", issue=issue)

    build("section_type_unknown", lambda h: h["sections"]["placement"].__setitem__("type", "os:system"))
    build("section_type_number", lambda h: h["sections"]["routes"].__setitem__("type", 42))
    build("section_meta_missing", lambda h: h["sections"]["placement"].pop("meta"))
    build("section_meta_empty", lambda h: h["sections"]["placement"].__setitem__("meta", {}))
    build("section_unknown_name", lambda h: h["sections"].__setitem__("extra", {"type": "routes", "meta": {}}))
    build("graph_missing", lambda h: h.pop("graph"))
    build("graph_populations_missing", lambda h: h["graph"].pop("populations"))
    build("target_missing", lambda h: h.pop("target"))
    build("target_clock_negative", lambda h: h["target"].__setitem__("clock_hz", -1.0), "4")
    build("target_family_unknown", lambda h: h["target"].__setitem__("family", "quantum"), "4")
    build("options_seed_text", lambda h: h["options"].__setitem__("seed", "abc"))
    build("options_time_limit_nan", lambda h: h["options"].__setitem__("time_limit", float("nan")), "4")
    build("report_list", lambda h: h.__setitem__("report", [1, 2]))
    build("report_string", lambda h: h.__setitem__("report", "fine"))
    build("sections_list", lambda h: h.__setitem__("sections", [1]))
    build("format_wrong", lambda h: h.__setitem__("format", "something-else"))
    build("version_newer", lambda h: h.__setitem__("format_version", 99))
    build("checksum_wrong", lambda h: h["graph"].__setitem__("dt", 0.5), fix_checksum=False)
    build("graph_dt_text", lambda h: h["graph"].__setitem__("dt", "fast"))
    build("placement_meta_placer_missing", lambda h: h["sections"]["placement"]["meta"].pop("placer"),
          command="export")
    dst = OUT / "builds" / "weights_truncated"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(good, dst)
    w = (dst / "weights.npz").read_bytes()
    (dst / "weights.npz").write_bytes(w[: len(w) // 2])
    case("build-weights_truncated", "build", "simulate", "{C}/builds/weights_truncated", "--input",
         "{C}/inputs/good.npy", issue="3")
    dst = OUT / "builds" / "program_json_binary"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(good, dst)
    (dst / "program.json").write_bytes(bytes(range(256)))
    case("build-program_json_binary", "build", "simulate", "{C}/builds/program_json_binary", "--input",
         "{C}/inputs/good.npy", issue="3")
    for name, content in (("report_json_list", b"[1, 2, 3]"), ("report_json_binary", bytes(range(256))),
                          ("report_json_truncated", b'{"model": {"neurons": 3')):
        dst = OUT / "builds" / name
        dst.mkdir(exist_ok=True)
        (dst / "report.json").write_bytes(content)
        case(f"report-{name}", "build", "report", f"{{C}}/builds/{name}", issue="3")
    case("report-missing_dir", "build", "report", "{C}/builds/nothere", issue="3")


# ------------------------------------------------------------------------------------------------ CLI misuse
def make_cli() -> None:
    user = OUT / "user_dir"
    user.mkdir(exist_ok=True)
    (user / "notes.txt").write_text("the user's own file: never deleted\n")
    (user / "mesh").mkdir(exist_ok=True)  # demo -o user_dir writes user_dir/mesh and user_dir/speck
    (user / "mesh" / "notes.txt").write_text("the user's own file: never deleted\n")
    (OUT / "user_file.txt").write_text("a file where a build directory was asked for\n")
    smg, x = "{C}/smg/good.smg", "{C}/inputs/good.npy"
    case("cli-out_user_dir", "cli", "compile", smg, "-o", "{C}/user_dir", issue="1")
    case("cli-out_user_file", "cli", "compile", smg, "-o", "{C}/user_file.txt", issue="1")
    case("cli-out_smg_dir", "cli", "compile", smg, "-o", "{C}/smg", issue="1")
    case("cli-demo_out_user_dir", "cli", "demo", "-o", "{C}/user_dir", issue="1")
    case("cli-demo_engine_bogus", "cli", "demo", "--engine", "bogus", "-o", "{T}/demo", issue="5")
    case("cli-train_out_user_dir", "cli", "train", smg, "--data", "{C}/inputs/good.npy", "-o", "{C}/user_dir",
         issue="1")
    case("cli-train_data_missing", "cli", "train", smg, "--data", "{C}/inputs/nothere.npz", "-o", "{T}/train",
         issue="5")
    case("cli-steps_zero", "cli", "simulate", smg, "--input", x, "--steps", "0", issue="3")
    case("cli-steps_negative", "cli", "simulate", smg, "--input", x, "--steps", "-3", issue="3")
    case("cli-steps_1e12", "cli", "simulate", smg, "--input", x, "--steps", str(10**12), issue="3")
    case("cli-record_unknown", "cli", "simulate", smg, "--input", x, "--record", "ghost", issue="3")
    case("cli-simulate_out_directory", "cli", "simulate", smg, "--input", x, "--out", "{C}/user_dir", issue="5")
    case("cli-time_limit_nan", "cli", "compile", smg, "--time-limit", "nan", "-o", "{T}/build", issue="3")
    case("cli-time_limit_inf", "cli", "compile", smg, "--time-limit", "inf", "-o", "{T}/build", issue="4")
    case("cli-time_limit_zero", "cli", "compile", smg, "--time-limit", "0", "-o", "{T}/build", issue="4")
    case("cli-time_limit_negative", "cli", "compile", smg, "--time-limit", "-5", "-o", "{T}/build", issue="4")
    case("cli-seed_huge", "cli", "compile", smg, "--seed", str(2**70), "-o", "{T}/build", issue="3")
    case("cli-seed_negative", "cli", "compile", smg, "--seed", "-1", "-o", "{T}/build", issue="3")
    case("cli-model_missing", "cli", "compile", "{C}/smg/nothere.smg", "-o", "{T}/build", issue="3")
    case("cli-model_directory", "cli", "info", "{C}/smg", issue="3")
    case("cli-export_out_directory", "cli", "export", "placement", "{C}/builds/good", "-f", "csv", "-o",
         "{C}/user_dir", issue="5")
    case("cli-export_not_build", "cli", "export", "placement", "{C}/user_dir", issue="3")
    case("cli-simulate_not_build", "cli", "simulate", "{C}/user_dir", "--input", x, issue="3")


def main() -> None:
    # found by fuzzing, kept as found: a damaged HDF5 heap on which the HDF5 library loops forever
    heap_loop = (OUT / "nir" / "heap_loop.nir").read_bytes()
    if OUT.exists():
        shutil.rmtree(OUT)
    for sub_dir in ("smg", "nir", "toml", "inputs", "builds"):
        (OUT / sub_dir).mkdir(parents=True)
    make_smg()
    make_nir()
    (OUT / "nir" / "heap_loop.nir").write_bytes(heap_loop)
    case("nir-heap_loop", "nir", "info", "{C}/nir/heap_loop.nir", issue="2")
    make_toml()
    make_inputs()
    make_builds()
    make_cli()
    (HERE / "cases.json").write_text(json.dumps(CASES, indent=1) + "\n")
    print(f"{len(CASES)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
