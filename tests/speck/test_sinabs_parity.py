"""Parity with sinabs' own code (peers): memory_summary, get_valid_mapping verdicts, discretization.

sinabs' package ``__init__`` imports samna (a stub that cannot import here), so the test registers an empty
``sinabs.backend.dynapcnn`` package object and imports only the submodules that do not need samna
(dynapcnn_layer, mapping, discretize, nir_graph_extractor, utils). The core table is read from sinabs'
``chips/dynapcnn.py`` source (its module imports samna)."""

from __future__ import annotations

import ast
import importlib
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import spikemesh
from spikemesh.backends.speck import layer_memory
from spikemesh.backends.speck.discretize import discretize_layer
from spikemesh.errors import PartitionError
from spikemesh.ir import IF, Conv2d, Dense, Flatten, Graph, Input, Output, Population, Projection, SumPool2d

pytestmark = pytest.mark.peers
sinabs = pytest.importorskip("sinabs")
torch = pytest.importorskip("torch")


def _dynapcnn() -> Any:
    name = "sinabs.backend.dynapcnn"
    root = Path(sinabs.__file__).parent / "backend" / "dynapcnn"
    if not (root / "nir_graph_extractor.py").is_file():
        pytest.skip(f"sinabs {getattr(sinabs, '__version__', '?')} has no 3.x DYNAP-CNN graph extractor; sinabs 3.x "
                    "pins nir <= 1.0.4, so it comes from the `sinabs` extra, not `peers` (pyproject.toml)")
    if name not in sys.modules or not hasattr(sys.modules[name], "DynapcnnLayer"):
        pkg = types.ModuleType(name)
        pkg.__path__ = [os.path.join(os.path.dirname(sinabs.__file__), "backend", "dynapcnn")]
        sys.modules[name] = pkg
    mods = {k: importlib.import_module(f"{name}.{m}") for k, m in (
        ("layer", "dynapcnn_layer"), ("mapping", "mapping"), ("disc", "discretize"), ("ge", "nir_graph_extractor"),
        ("utils", "utils"))}
    return types.SimpleNamespace(**mods)


def _sinabs_constraints(sd: Any) -> list[Any]:
    src = Path(sinabs.__file__).parent / "backend" / "dynapcnn" / "chips" / "dynapcnn.py"
    vals: dict[str, list[int]] = {}
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in (
                "weight_memory_size", "neurons_memory_size", "bias_memory_size"):
            vals[node.targets[0].id] = list(eval(compile(ast.Expression(node.value), str(src), "eval")))  # noqa: S307
    return [sd.mapping.LayerConstraints(k, n, b) for k, n, b in
            zip(vals["weight_memory_size"], vals["neurons_memory_size"], vals["bias_memory_size"])]


def test_core_table_equals_sinabs() -> None:
    sd = _dynapcnn()
    t = spikemesh.target("speck")
    got = [(c.kernel_memory, c.neuron_memory, c.bias_memory) for c in _sinabs_constraints(sd)]
    assert got == [(t.core_spec(i).kernel_entries, t.core_spec(i).neuron_entries, t.core_spec(i).bias_entries)
                   for i in range(9)]


def test_memory_summary_parity_random_layers() -> None:
    sd = _dynapcnn()
    sl = sinabs.layers
    rng = np.random.default_rng(0)
    cases = [(1, 8, 2, 2, 0, 17, 17, False), (16, 32, 3, 1, 1, 64, 64, False), (16, 11, 0, 1, 0, 13, 13, True)]
    while len(cases) < 230:
        k = int(rng.integers(1, 17))
        c, f = int(rng.integers(1, 1025)), int(rng.integers(1, 1025))
        if c * f * k * k > 1_500_000:
            continue
        s, p = int(rng.choice([1, 2, 4, 8])), int(rng.integers(0, 8))
        h, w = int(rng.integers(1, 129)), int(rng.integers(1, 129))
        if h + 2 * p < k or w + 2 * p < k:
            continue
        if rng.random() < 0.15:  # Linear on a small square input: kernel = input
            h = w = int(rng.integers(1, 17))
            c = int(rng.integers(1, 65))
            if c * h * w * f < 1_500_000:
                cases.append((c, f, h, 1, 0, h, w, True))
            continue
        cases.append((c, f, k, s, p, h, w, False))
    n_lin = 0
    for c, f, k, s, p, h, w, lin in cases:
        if lin:
            mod = torch.nn.Linear(c * h * w, f)
            ours = layer_memory(c, f, (h, w), 1, 0, (h, w))
        else:
            mod = torch.nn.Conv2d(c, f, k, stride=s, padding=p)
            ours = layer_memory(c, f, k, s, p, (h, w))
        n_lin += lin
        layer = sd.layer.DynapcnnLayer(mod, sl.IAFSqueeze(batch_size=1), (c, h, w), [[1, 1]], discretize=False)
        theirs = {k2: int(v) for k2, v in layer.memory_summary().items()}
        assert ours == theirs, (c, f, k, s, p, h, w, lin)
    assert n_lin >= 10


def _random_net(rng: np.random.Generator) -> tuple[Any, Graph, tuple[int, int, int]]:
    """The same random conv/pool/linear chain as a sinabs torch module and as an IR graph."""
    sl = sinabs.layers
    hw = int(rng.choice([16, 24, 32, 48, 64]))
    shape = (2, hw, hw)
    n_layers = int(rng.integers(2, 11))
    mods: list[Any] = []
    pops, projs = [], []
    src = "in"
    for i in range(n_layers):
        ops: list[Any] = []
        if i > 0 and shape[1] >= 4 and rng.random() < 0.3:
            mods.append(sl.SumPool2d(2))
            ops.append(SumPool2d(2))
            shape = (shape[0], shape[1] // 2, shape[2] // 2)
        last = (i == n_layers - 1 and rng.random() < 0.5 and shape[1] <= 16
                and shape[0] * shape[1] * shape[2] <= 8192)
        if last:
            f = int(rng.integers(2, 16))
            lin = torch.nn.Linear(int(np.prod(shape)), f, bias=False)
            mods += [torch.nn.Flatten(), lin]
            ops += [Flatten(), Dense(lin.weight.detach().numpy().astype(float))]
            shape = (f,)
        else:
            f = int(rng.choice([2, 4, 8, 16, 32, 64, 128]))
            k = int(rng.choice([1, 3, 5, 7]))
            s = int(rng.choice([1, 1, 2]))
            p = k // 2 if rng.random() < 0.7 else 0
            if shape[1] + 2 * p < k:
                p = k // 2
            conv = torch.nn.Conv2d(shape[0], f, k, stride=s, padding=p, bias=False)
            mods.append(conv)
            op = Conv2d(conv.weight.detach().numpy().astype(float), stride=s, padding=p)
            ops.append(op)
            shape = op.out_shape(shape)
        mods.append(sl.IAFSqueeze(batch_size=1, min_v_mem=-1.0))
        pops.append(Population(f"L{i}", shape, IF()))
        projs.append(Projection(f"p{i}", src, f"L{i}", tuple(ops)))
        src = f"L{i}"
        if shape[-1] == 1 or len(shape) == 1:
            break
    g = Graph((Input("in", (2, hw, hw)),), tuple(pops), tuple(projs), (Output("o", src),))
    return torch.nn.Sequential(*mods), g, (2, hw, hw)


def _sinabs_verdict(sd: Any, net: Any, in_shape: tuple[int, int, int], constraints: list[Any]) -> bool:
    ge = sd.ge.GraphExtractor(net, torch.randn((1, *in_shape)), False,
                              ignore_node_types=sd.utils.COMPLETELY_IGNORED_LAYER_TYPES)
    ge.remove_nodes_by_class(sd.utils.IGNORED_LAYER_TYPES)
    mod = ge.get_dynapcnn_network_module(discretize=False)
    mod.setup_dynapcnnlayer_graph(index_layers_topologically=True)
    try:
        sd.mapping.get_valid_mapping(mod.dynapcnn_layers, constraints)
    except ValueError as e:
        assert "No valid mapping found" in str(e)
        return False
    return True


@pytest.mark.slow
def test_network_verdict_parity() -> None:
    """60 random networks (about 5 minutes on the shared 2-core machine; the quick variant runs by default)."""
    verdicts = _verdicts(60, seed=1)
    assert 10 <= sum(verdicts) <= 50  # both verdicts well represented


def test_network_verdict_parity_quick() -> None:
    verdicts = _verdicts(6, seed=7)
    assert len(verdicts) == 6


def _verdicts(n: int, seed: int) -> list[bool]:
    sd = _dynapcnn()
    cons = _sinabs_constraints(sd)
    rng = np.random.default_rng(seed)
    verdicts = []
    for _ in range(n):
        net, g, in_shape = _random_net(rng)
        theirs = _sinabs_verdict(sd, net, in_shape, cons)
        try:
            spikemesh.compile(g, "speck", time_limit=2.0)
            ours = True
        except PartitionError as e:
            assert "memory" in str(e) or "core" in str(e), str(e)
            ours = False
        assert ours == theirs, [type(m).__name__ for m in net]
        verdicts.append(ours)
    return verdicts


def test_discretization_parity() -> None:
    sd = _dynapcnn()
    sl = sinabs.layers
    rng = np.random.default_rng(2)
    for i in range(60):
        c, f, k = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 5]))
        conv = torch.nn.Conv2d(c, f, k, bias=bool(i % 2))
        with torch.no_grad():
            conv.weight.mul_(float(rng.choice([0.1, 1.0, 10.0])))
            if i % 3 == 0:
                conv.weight.abs_()
        thr = float(rng.choice([0.5, 1.0, 3.0, 200.0]))
        mvm = [None, -1.0, -thr, -5.0][i % 4]
        spk = sl.IAFSqueeze(batch_size=1, spike_threshold=thr, min_v_mem=mvm)
        c2, s2 = sd.disc.discretize_conv_spike(conv, spk, to_int=False)
        b = None if conv.bias is None else conv.bias.detach().numpy().astype(np.float64)
        w, bq, th, tl, _ = discretize_layer(conv.weight.detach().numpy().astype(np.float64), b, thr,
                                            -(2.0 ** 15) if mvm is None else mvm)
        np.testing.assert_array_equal(w, c2.weight.detach().numpy())
        if b is not None:
            np.testing.assert_array_equal(bq, c2.bias.detach().numpy())
        assert th == float(s2.spike_threshold) and tl == float(s2.min_v_mem)


def test_dvs_layer_equals_sinabs_dvslayer() -> None:
    """DvsSpec.frames (what the async engine's event map equals, test_dvs.py) against sinabs' DVSLayer.forward
    on random pooling / crop / flip / swap / merge settings."""
    _dynapcnn()
    dl = importlib.import_module("sinabs.backend.dynapcnn.dvs_layer")
    from spikemesh.backends.speck.dvs import from_options

    rng = np.random.default_rng(5)
    for _ in range(25):
        hs, ws, pool = int(rng.integers(4, 40)), int(rng.integers(4, 40)), int(rng.choice([1, 2, 4]))
        ph, pw = hs // pool, ws // pool
        if ph < 1 or pw < 1:
            continue
        top, left = int(rng.integers(0, ph)), int(rng.integers(0, pw))
        bottom, right = int(rng.integers(top + 1, ph + 1)), int(rng.integers(left + 1, pw + 1))
        fx, fy, sw, mg = (bool(v) for v in rng.random(4) < 0.5)
        layer = dl.DVSLayer((hs, ws), pool=(pool, pool), crop=((top, bottom), (left, right)), merge_polarities=mg,
                            flip_x=fx, flip_y=fy, swap_xy=sw)
        x = rng.integers(0, 3, (3, 2, hs, ws))
        want = layer(torch.tensor(x, dtype=torch.float32)).numpy()
        h, w = bottom - top, right - left
        c = 1 if mg else 2
        spec = from_options({"input_shape": (hs, ws), "pool": pool, "crop": ((top, bottom), (left, right)),
                             "flip_x": fx, "flip_y": fy, "swap_xy": sw, "merge_polarities": mg},
                            (c, w, h) if sw else (c, h, w), 1, ())
        assert np.array_equal(spec.frames(x), want)
        cfg = spec.config({})
        ref = layer.get_config_dict()
        for k in ("merge", "mirror", "mirror_diagonal", "cut", "origin", "pooling"):
            assert cfg[k] == ref[k], k
