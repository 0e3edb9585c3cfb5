"""Crossbar benchmark: demo-model accuracy vs read time under aihwkit's PCM model (with / without global drift
compensation), energy per sample with 5- and 8-bit ADCs on 128x128 and 256x256 arrays, IR drop closed form vs
nodal solve, the PRIME learned-mask network with input-aware early stop (accuracy, mean steps vs full T), and
compiling for crossbar targets (tiles as cores, placement, certified routing). Run: ``nice python
benchmarks/crossbar.py``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's spikemesh, not an installed one

import spikemesh  # noqa: E402
from spikemesh.backends.crossbar.irdrop import ir_drop_closed_form, ir_drop_nodal  # noqa: E402
from spikemesh.data.demo import accuracy, load_demo  # noqa: E402


def main() -> None:
    print(f"load average: {os.getloadavg()}")
    g, x, y = load_demo()
    ref = spikemesh.simulate(g, x)
    print(f"reference accuracy: {accuracy(ref, y):.3f} ({len(y)} bundled samples)")
    print("\naccuracy vs read time, PCM prog noise + drift + 1/f read noise, 128x128, 1 b/cell, 9-bit ADC")
    print(f"{'t':>6} {'no comp':>8} {'global comp':>12}")
    for name, t in (("1s", 1.0), ("1d", 86400.0), ("1y", 3.156e7), ("10y", 3.156e8)):
        row = []
        for comp in (False, True):
            accs = []
            for seed in range(3):
                dm = {"prog_noise": "pcm", "drift": True, "read_noise": True, "t_read_s": t,
                      "drift_compensation": comp}
                r = spikemesh.simulate(g, x, engine="crossbar", config={"adc_bits": 9}, device=dm, seed=seed)
                accs.append(accuracy(r, y))
            row.append(f"{np.mean(accs):.3f}±{np.std(accs):.3f}")
        print(f"{name:>6} {row[0]:>12} {row[1]:>14}")
    print("\nenergy per sample (ideal devices, T=20, timestep-parallel reads)")
    print(f"{'target':>14} {'ADC bits':>8} {'pJ/sample':>12} {'ADC share':>9} {'TOPS/W':>8} {'arrays':>6} {'acc':>6}")
    for tgt in ("crossbar", "crossbar-256"):
        for bits in (5, 8):
            r = spikemesh.simulate(g, x, engine="crossbar", target=tgt, config={"adc_bits": bits})
            e = r.stats["energy"]
            share = e["by_action_pj"]["adc_conversion"] / e["total_pj"]
            print(f"{tgt:>14} {bits:>8} {e['per_sample_pj']:>12.0f} {share:>9.2f} {r.stats['tops_per_w']:>8.3f} "
                  f"{r.stats['arrays']:>6} {accuracy(r, y):>6.3f}")
    print("\nIR drop: closed form vs nodal solve (binary inputs p=0.5, G~U(0, 25 µS), 8 columns)")
    print(f"{'rows':>5} {'r_wire':>6} {'max a':>6} {'drop nodal':>10} {'drop closed':>11} {'max out err':>11}")
    rng = np.random.default_rng(0)
    for n in (64, 128, 256):
        for r_w in (0.35, 1.0, 2.0, 5.0):
            gg = rng.uniform(0, 25e-6, (n, 8))
            xx = (rng.random(n) < 0.5).astype(float)
            ideal = xx @ gg
            nod = ir_drop_nodal(gg, xx, r_w)
            cf = ir_drop_closed_form(gg, xx, r_w, 25e-6)
            a = n * r_w * ideal
            print(f"{n:>5} {r_w:>6} {a.max():>6.2f} {np.mean(1 - nod / ideal):>10.4f} {np.mean(1 - cf / ideal):>11.4f} "
                  f"{np.max(np.abs(cf - nod) / nod):>11.4f}")
    pg, px = prime()
    tiles_as_cores(g, x, pg, px)
    print(f"load average: {os.getloadavg()}")


def prime() -> tuple[spikemesh.Graph, np.ndarray]:
    """PRIME (Wang et al., Sci. Adv. 2025; spikemesh.backends.crossbar.prime): random device levels, learned 50 %
    mask, early stop when softmax(mean output / 2) > 0.8. Returns the integer graph and its test inputs."""
    from spikemesh.backends.crossbar.prime import (
        PrimeConfig,
        float_outputs,
        prime_graph,
        stop_predictions,
        train_prime,
    )
    from spikemesh.data.shapes import make_shapes

    cfg = PrimeConfig()
    xtr, ytr = make_shapes(1000, 1)
    xte, yte = make_shapes(500, 2)
    t0 = time.perf_counter()
    net = train_prime(xtr, ytr, cfg)
    secs = time.perf_counter() - t0
    g = prime_graph(net)
    T = xte.shape[0]
    print(f"\nPRIME learned-mask network: 512-{cfg.hidden}-4 MLP, random levels N(0, {cfg.sigma_levels:g}) of ±127, "
          f"keep {cfg.keep:.0%}, LIF β={cfg.beta}, trained {cfg.epochs} epochs on 1,000 generated shapes samples in "
          f"{secs:.1f} s (1 torch thread); test: 500 samples, T={T}")
    fo = float_outputs(net, xte)
    ref = spikemesh.simulate(g, xte)
    print(f"torch float accuracy {np.mean(fo.mean(0).argmax(1) == yte):.3f}; IR reference (int) "
          f"{np.mean(ref.output.sum(0).argmax(1) == yte):.3f}")
    stop = {"alpha": net.alpha_int, "threshold": cfg.stop_threshold}
    print(f"{'crossbar run (7-bit cells, 1 slice)':<44} {'acc full T':>10} {'acc stop':>8} {'steps':>6} "
          f"{'saved':>6} {'nJ full':>8} {'nJ stop':>8}")
    runs = (("ideal devices, ideal ADC", {"cell_bits": 7, "adc_bits": None}, None),
            ("ideal devices, 8-bit ADC", {"cell_bits": 7, "adc_bits": 8}, None),
            ("PCM prog+drift+read noise t=1 d, 8-bit ADC", {"cell_bits": 7, "adc_bits": 8},
             {"prog_noise": "pcm", "drift": True, "read_noise": True, "t_read_s": 86400.0}),
            ("PCM t=1 d + global drift comp., 8-bit ADC", {"cell_bits": 7, "adc_bits": 8},
             {"prog_noise": "pcm", "drift": True, "read_noise": True, "t_read_s": 86400.0,
              "drift_compensation": True}))
    for name, xb, dm in runs:
        r = spikemesh.simulate(g, xte, engine="crossbar", config=xb, device=dm, seed=0, early_stop=stop)
        full = spikemesh.simulate(g, xte, engine="crossbar", config=xb, device=dm, seed=0)
        steps = np.asarray(r.stats["steps_used"])
        acc_full = np.mean(full.output.sum(0).argmax(1) == yte)
        acc_stop = np.mean(stop_predictions(r.output, steps) == yte)
        e_full = full.stats["energy"]["per_sample_pj"] / 1e3
        e_stop = r.stats["energy"]["per_sample_pj"] / 1e3
        print(f"{name:<44} {acc_full:>10.3f} {acc_stop:>8.3f} {steps.mean():>6.2f} {1 - steps.mean() / T:>6.1%} "
              f"{e_full:>8.1f} {e_stop:>8.1f}")
    return g, xte


def tiles_as_cores(demo: spikemesh.Graph, x: np.ndarray, pg: spikemesh.Graph, px: np.ndarray) -> None:
    """Compile for crossbar targets: one array group = one core, placed, routed and deadlock-certified."""
    print("\ncompile --target crossbar: partition (one core per array group) -> place -> route -> config")
    print(f"{'model':<10} {'target':<14} {'cores':>5} {'arrays':>6} {'partial':>7} {'deadlock-free':>13} "
          f"{'routing':>8} {'place s':>7} {'route s':>7} {'== ref':>6}")
    for label, graph, xs, tgt in (("demo", demo, x, "crossbar"), ("demo", demo, x, "crossbar-256"),
                                  ("PRIME", pg, px, "crossbar")):
        p = spikemesh.compile(graph, tgt)
        part, rep = p.partition, p.report
        same = np.array_equal(p.simulate(xs[:, :16], engine="crossbar", config={"adc_bits": None}).output,
                              spikemesh.simulate(p.graph, xs[:, :16]).output)
        print(f"{label:<10} {tgt:<14} {part.n_cores:>5} {rep['crossbar']['arrays']:>6} "
              f"{part.report['partial_sum_cores']:>7} {str(rep['routing']['deadlock_free']):>13} "
              f"{rep['routing']['algorithm']:>8} {rep['time']['place']:>7.2f} {rep['time']['route']:>7.2f} "
              f"{str(same):>6}")


if __name__ == "__main__":
    main()
