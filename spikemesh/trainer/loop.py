"""``train()``: BPTT training of an IR graph on the training target — single worker, data-parallel workers with a
gradient all-reduce, or federated workers with periodic weight averaging (FedAvg) — with the cost model.

Optimisers and the cosine learning-rate decay are in optimisers.py. Cost: the engines' op counts (counts.py),
cycles, traffic and energy (chip_cost.py) of the last mini-batch of every epoch, scaled by the number of
mini-batches, beside the GPU baseline's DRAM traffic (gpu_baseline.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from spikemesh.ir.graph import Graph, Projection
from spikemesh.ir.operators import Conv, Dense, Sparse
from spikemesh.target.model import Target
from spikemesh.target.registry import target as get_target
from spikemesh.trainer.bptt import TrainingGraph
from spikemesh.trainer.chip_cost import engine_cost
from spikemesh.trainer.counts import count_ops
from spikemesh.trainer.gpu_baseline import gpu_traffic
from spikemesh.trainer.losses import loss_and_grad
from spikemesh.trainer.op_rules import F32, TrainingError, initial_params
from spikemesh.trainer.optimisers import epoch_lr, make_optimizer
from spikemesh.trainer.spec import spec_dict, trainer_spec


@dataclass
class TrainResult:
    """The trained graph, per-epoch history (loss, train accuracy, eval accuracy, lr), the cost of the run on
    the target, the GPU baseline traffic and their ratio."""

    graph: Graph
    params: dict[str, np.ndarray]
    history: list[dict[str, float]]
    cost: dict[str, Any]
    gpu: dict[str, float]
    report: dict[str, Any] = field(default_factory=dict)


def load_data(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [T, N, *shape], labels [N]) from a tuple, a dict or an .npz path with 'inputs' and 'labels'.
    Inputs must be finite real numbers and labels whole numbers >= 0 (checks.number_array's rules)."""
    import spikemesh.checks as checks
    from spikemesh.errors import FileFormatError

    where = "training data"
    if isinstance(data, (str, Path)):
        from spikemesh.fileio import read_arrays

        p = Path(data)
        where = str(p)
        if not p.is_file():
            raise FileFormatError("training data file not found", node=str(p),
                                  hint="an .npz with 'inputs' [T, N, ...] and 'labels' [N]")
        z = read_arrays(p, "training data")
        if not isinstance(z, dict) or not {"inputs", "labels"} <= set(z):
            raise FileFormatError("training data needs 'inputs' and 'labels' arrays", node=str(p),
                                  needed="npz with 'inputs' and 'labels'",
                                  available=", ".join(z) if isinstance(z, dict) else "a plain .npy array")
        x, y = z["inputs"], z["labels"]
    elif isinstance(data, dict):
        if not {"inputs", "labels"} <= set(data):
            raise TrainingError("training data needs 'inputs' and 'labels'", node=where,
                                available=", ".join(map(str, data)))
        x, y = data["inputs"], data["labels"]
    else:
        try:
            x, y = data
        except (TypeError, ValueError):
            raise TrainingError("training data is (inputs, labels), a dict or an .npz path", node=where,
                                available=type(data).__name__) from None
    try:
        x = np.asarray(x)
    except (TypeError, ValueError):
        raise TrainingError("training inputs are not a rectangular array", node=where) from None
    if x.dtype.kind not in "biuf" or (x.dtype.kind == "f" and not np.all(np.isfinite(x))):
        raise TrainingError("training inputs must be finite real numbers", node=where, available=str(x.dtype))
    labels = checks.number_array(y, "labels", where, TrainingError)
    if labels.size and (labels.min() < 0 or np.any(labels != np.round(labels)) or labels.max() >= 2**31):
        raise TrainingError("labels must be whole numbers >= 0", node=where, available=f"{labels.min():g}.."
                            f"{labels.max():g}")
    return x, labels.astype(np.int64)


def graph_with_params(graph: Graph, params: dict[str, np.ndarray], metadata: dict[str, Any] | None = None) -> Graph:
    """A copy of ``graph`` whose trainable arrays are ``params`` (float64 in the IR)."""
    projs: list[Projection] = []
    for pr in graph.projections:
        ops = list(pr.ops)
        for i, op in enumerate(ops):
            names = ("weight", "bias") if isinstance(op, (Dense, Conv)) else ("data",) if isinstance(op, Sparse) else ()
            ch = {n: np.asarray(params[f"{pr.name}/{i}/{n}"], dtype=np.float64) for n in names
                  if f"{pr.name}/{i}/{n}" in params}
            if ch:
                ops[i] = replace(op, **ch)
        projs.append(replace(pr, ops=tuple(ops)))
    meta = dict(graph.metadata)
    if metadata:
        meta.update(metadata)
    return graph.replace(projections=tuple(projs), metadata=meta)


def _output_pop(graph: Graph) -> str:
    if not graph.outputs:
        raise TrainingError("the graph has no Output node", hint="add an Output naming the readout population")
    src = graph.outputs[0].source
    if src not in graph.population:
        raise TrainingError("the output must be a population", node=graph.outputs[0].name, available=src)
    return src


def _out_values(net: TrainingGraph, trace: Any, name: str) -> np.ndarray:
    pop = net.pops[name]
    return trace.spikes(name, pop.shape).astype(F32) if pop.spiking else trace.V[name]


def predict(net: TrainingGraph, params: dict[str, np.ndarray], x: np.ndarray, batch: int = 256) -> np.ndarray:
    """Class per sample: argmax of the time-summed output (spike counts), ties to the lowest index."""
    name = _output_pop(net.graph)
    inp = net.graph.inputs[0].name
    out = []
    for i in range(0, x.shape[1], batch):
        tr = net.forward(params, {inp: x[:, i:i + batch]})
        out.append(np.argmax(_out_values(net, tr, name).sum(axis=0), axis=1))
    return np.concatenate(out)


def grad_step(net: TrainingGraph, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, loss: str,
              ) -> tuple[float, dict[str, np.ndarray], Any, dict[str, np.ndarray], np.ndarray]:
    """One FP + BP + WG pass: (loss, gradients, trace, deltas, logits)."""
    name = _output_pop(net.graph)
    tr = net.forward(params, {net.graph.inputs[0].name: x})
    lval, g_out, logits = loss_and_grad(loss, _out_values(net, tr, name), y)
    grads, deltas = net.backward(params, tr, {name: g_out})
    return lval, grads, tr, deltas, logits


def _layout(graph: Graph, tgt: Target, layout: str, cores: int | None, workers: int) -> tuple[Any, str]:
    from spikemesh.errors import SpikemeshError
    from spikemesh.trainer.layout import from_partition

    if layout not in ("partition", "own"):
        raise TrainingError(f"unknown layout {layout!r}", needed="partition or own", available=layout)
    if layout == "own":
        return None, "own (layout.py distribute)"
    if cores is not None or workers > 1:
        return None, "own (layout.py distribute): an explicit core count or several workers"
    try:
        from spikemesh.partition import partition

        part = partition(graph, tgt, seed=0, time_limit=5.0)
    except SpikemeshError as e:
        return None, f"own (layout.py distribute): partition stage failed: {e}"
    return from_partition(part, tgt.cores_x), f"partition stage ({part.strategy}, {part.n_cores} cores)"


def train(graph: Graph, data: Any, target: str | Target = "trainer", epochs: int = 1, lr: float = 1e-3,
          surrogate: Any = None, batch: int = 32, loss: str = "ce_count", optimizer: str = "adam",
          schedule: str | None = "cosine", seed: int = 0, workers: int = 1, federated: bool = False,
          sync_every: int = 1, cores: int | None = None, eval_data: Any = None, gpu_bytes: int = 4,
          layout: str = "partition",
          progress: Callable[[int, int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train ``graph`` with BPTT on the training engines (see module docstring).

    ``data``: (inputs [T, N, *input_shape], labels [N]), a dict or an .npz path. ``workers`` > 1 splits every
    mini-batch over data-parallel workers whose gradients are all-reduced (summed), or with ``federated`` gives
    each worker its own shard of the data and optimiser and averages the weights every ``sync_every`` local
    mini-batches. ``layout``: "partition" places neurons on cores with the partition stage
    (``spikemesh.partition.partition``; when it cannot fit the target, or ``cores`` is given, the cost model's own
    distribution is used and the report says why), "own" uses the cost model's distribution (layout.py).
    ``progress(done, total, info)`` is called after every mini-batch.
    """
    tgt = get_target(target)
    spec = trainer_spec(tgt)
    if len(graph.inputs) != 1:
        raise TrainingError("training needs a graph with one input", needed=1, available=len(graph.inputs))
    import spikemesh.checks as checks

    for name, v in (("epochs", epochs), ("batch", batch), ("workers", workers), ("sync_every", sync_every)):
        checks.integer(v, name, "train", TrainingError, lo=1, hi=2**31 - 1)
    checks.real(lr, "lr (learning rate)", "train", TrainingError, lo=0.0, lo_open=True)
    checks.integer(seed, "seed", "train", TrainingError, lo=0, hi=2**64 - 1)
    x, y = load_data(data)
    if x.ndim != len(graph.inputs[0].shape) + 2 or tuple(x.shape[2:]) != graph.inputs[0].shape:
        raise TrainingError("training inputs do not match the graph input", node=graph.inputs[0].name,
                            needed=f"[T, N, {', '.join(map(str, graph.inputs[0].shape))}]", available=list(x.shape))
    if y.shape != (x.shape[1],):
        raise TrainingError("labels do not match the inputs", node="labels", needed=[x.shape[1]],
                            available=list(y.shape))
    x = x.astype(F32)
    net = TrainingGraph(graph, surrogate)
    rng = np.random.default_rng(seed)
    N = x.shape[1]
    n_workers = workers
    if federated:
        shards = np.array_split(rng.permutation(N), n_workers)
        wparams = [initial_params(graph) for _ in range(n_workers)]
        opts = [make_optimizer(optimizer, p, lr) for p in wparams]
        params = wparams[0]
    else:
        params = initial_params(graph)
        opt = make_optimizer(optimizer, params, lr)
    ex = load_data(eval_data) if eval_data is not None else None
    dist, layout_note = _layout(graph, tgt, layout, cores if not federated else None, workers)
    history: list[dict[str, float]] = []
    cost_acc: dict[str, Any] = {}
    per_epoch_batches = (math.ceil(max(len(s) for s in shards) / batch) if federated else math.ceil(N / batch))
    total_batches = epochs * per_epoch_batches
    done = 0
    rounds = 0  # federated averaging rounds
    last = None
    for epoch in range(epochs):
        lr_e = epoch_lr(lr, schedule, epoch, epochs)
        for o in (opts if federated else [opt]):
            o.lr = lr_e
        tot_loss, correct, seen = 0.0, 0, 0
        if federated:
            orders = [rng.permutation(s) for s in shards]
            for b in range(per_epoch_batches):
                for w in range(n_workers):
                    idx = orders[w][b * batch:(b + 1) * batch]
                    if idx.size == 0:
                        continue
                    lval, grads, tr, deltas, logits = grad_step(net, wparams[w], x[:, idx], y[idx], loss)
                    opts[w].step(wparams[w], grads)
                    tot_loss += lval * idx.size
                    correct += int((np.argmax(logits, 1) == y[idx]).sum())
                    seen += idx.size
                    last = (tr, deltas, idx.size)
                if (b + 1) % sync_every == 0 or b == per_epoch_batches - 1:
                    rounds += 1
                    sizes = np.array([len(s) for s in shards], dtype=np.float64)
                    avg = {k: sum(p[k] * (s / sizes.sum()) for p, s in zip(wparams, sizes, strict=True)).astype(F32)
                           for k in wparams[0]}
                    for p in wparams:
                        p.update({k: v.copy() for k, v in avg.items()})
                done += 1
                if progress:
                    progress(done, total_batches, {"epoch": epoch + 1, "loss": tot_loss / max(seen, 1)})
            params = wparams[0]
        else:
            order = rng.permutation(N)
            for b in range(per_epoch_batches):
                idx = order[b * batch:(b + 1) * batch]
                shards_b = np.array_split(idx, n_workers)
                grads_sum: dict[str, np.ndarray] = {}
                for sh in shards_b:  # data-parallel workers; the all-reduce sums their gradients
                    if sh.size == 0:
                        continue
                    lval, g, tr, deltas, logits = grad_step(net, params, x[:, sh], y[sh], loss)
                    scale = sh.size / idx.size  # each worker's loss is a mean over its shard
                    for k, v in g.items():
                        grads_sum[k] = grads_sum.get(k, 0) + v * F32(scale)
                    tot_loss += lval * sh.size
                    correct += int((np.argmax(logits, 1) == y[sh]).sum())
                    seen += sh.size
                    last = (tr, deltas, sh.size)
                opt.step(params, grads_sum)
                done += 1
                if progress:
                    progress(done, total_batches, {"epoch": epoch + 1, "loss": tot_loss / max(seen, 1)})
        rec: dict[str, float] = {"epoch": epoch + 1, "loss": tot_loss / max(seen, 1),
                                 "train_acc": correct / max(seen, 1),
                                 "lr": lr_e}
        if ex is not None and epoch == epochs - 1:  # evaluated after the last epoch
            rec["eval_acc"] = float(np.mean(predict(net, params, ex[0].astype(F32)) == ex[1]))
        # cost of the last mini-batch of this epoch (one worker's shard), scaled to the epoch
        assert last is not None
        tr, deltas, _ = last
        counts = count_ops(net, tr, deltas)
        c = engine_cost(net, counts, tr, deltas, tgt, cores=cores, workers=n_workers, optimizer=optimizer,
                        spec=spec, dist=dist)
        steps_per_epoch = per_epoch_batches
        for k in ("seconds",):
            cost_acc[k] = cost_acc.get(k, 0.0) + c[k] * steps_per_epoch
        for k in ("dram", "sram", "noc_fp", "noc_bp", "allreduce"):
            cost_acc.setdefault("traffic_bytes", {})
            tb = cost_acc["traffic_bytes"]
            tb[k] = tb.get(k, 0.0) + c["traffic_bytes"][k] * steps_per_epoch
        for k, v in c["energy_pj"].items():
            cost_acc.setdefault("energy_pj", {})
            cost_acc["energy_pj"][k] = cost_acc["energy_pj"].get(k, 0.0) + v * steps_per_epoch
        cost_acc["cycles"] = cost_acc.get("cycles", 0.0) + c["cycles"]["total"] * steps_per_epoch
        cost_acc["last_batch"] = c
        g = gpu_traffic(net, tr.T, tr.B * n_workers, gpu_bytes=gpu_bytes, optimizer=optimizer)
        cost_acc["gpu_dram_bytes"] = cost_acc.get("gpu_dram_bytes", 0.0) + g["total"] * steps_per_epoch
        rec["tflops_per_w_core"] = c["tflops_per_w_core"]
        history.append(rec)
    gpu = gpu_traffic(net, x.shape[0], min(batch, N), gpu_bytes=gpu_bytes, optimizer=optimizer)
    cost_acc["dram_ratio_vs_gpu"] = cost_acc["traffic_bytes"]["dram"] / cost_acc["gpu_dram_bytes"]
    cost_acc["dram_reduction_vs_gpu"] = 1.0 - cost_acc["dram_ratio_vs_gpu"]
    cost_acc["energy_core_pj"] = sum(v for k, v in cost_acc["energy_pj"].items() if k != "dram")
    cost_acc["tflops_per_w_core"] = float(np.mean([h["tflops_per_w_core"] for h in history]))
    cost_acc["estimate"] = "last mini-batch of each epoch x mini-batches per epoch"
    if federated:  # each round: every worker uploads its weights and downloads the average (value_bits each)
        n_w = sum(int(v.size) for v in params.values())
        fb = rounds * 2.0 * n_w * spec.value_bits / 8 * n_workers
        cost_acc["federated"] = {"rounds": rounds, "bytes": fb, "link_seconds": fb / spec.interchip_bytes_per_s,
                                 "energy_pj": fb * 8 * spec.interchip_pj_per_bit}
    meta = {"training": {"target": tgt.name, "epochs": epochs, "lr": lr, "batch": batch, "loss": loss,
                         "optimizer": optimizer, "schedule": schedule, "seed": seed, "workers": workers,
                         "federated": federated, "surrogate": vars(net.surrogate).copy(),
                         "history": history}}
    trained = graph_with_params(graph, params, meta)
    report = {"target": tgt.name, "layout": layout_note, "trainer": spec_dict(tgt), "history": history,
              "cost": {k: v for k, v in cost_acc.items() if k != "last_batch"}, "last_batch": cost_acc["last_batch"],
              "gpu_per_batch": gpu}
    return TrainResult(trained, params, history, cost_acc, gpu, report)


def run_fp(subject: Any, inputs: Any, record: Any = None, surrogate: Any = None) -> Any:
    """The FP engine alone as a simulation engine (``simulate(..., engine="trainer")``): float32 forward pass
    of a Graph (or a Program's graph); returns a SimResult like the reference executor's."""
    from spikemesh.ir.reference import normalize_inputs
    from spikemesh.ir.result import SimResult

    graph = subject if isinstance(subject, Graph) else subject.graph
    xs, T, B = normalize_inputs(graph, inputs)
    net = TrainingGraph(graph, surrogate)
    tr = net.forward(initial_params(graph), xs)
    spikes = {nm: tr.spikes(nm, p.shape) for nm, p in net.pops.items() if p.spiking}
    v = {nm: tr.V[nm] for nm in tr.V}
    for nm in record or []:
        if nm not in v:
            v[nm] = tr.H[nm].reshape(T, B, *net.pops[nm].shape)  # membrane before reset
    outputs = {o.name: spikes.get(o.source, v.get(o.source, xs.get(o.source))) for o in graph.outputs}
    res = SimResult(spikes=spikes, v=v, outputs=outputs, engine="trainer", steps=T, mode="float")
    from spikemesh.ir.result import make_summary
    from spikemesh.simulator.energy import synaptic_operations

    res.stats["summary"] = make_summary(
        engine="trainer", steps=T, batch=B, spikes_per_layer=res.spike_counts(),
        synops=synaptic_operations(graph, res, xs, integer=False),
        neuron_updates=T * B * sum(p.size for p in graph.populations), energy=None, time_model="none",
        energy_note="the trainer engine is the training chip's forward pass only: its cost comes from "
                    "spikemesh.train (cycles, energy and DRAM traffic of FP, BP and WG)",
        latency_note="the trainer engine does not model time (spikemesh.train estimates cycles)")
    return res
