"""Crossbar benchmark: demo-model accuracy vs read time under aihwkit's PCM model (with / without global drift
compensation), energy per sample with 5- and 8-bit ADCs on 128x128 and 256x256 arrays, IR drop closed form vs
nodal solve, and a PRIME-style early-stop run. Run: ``nice python benchmarks/crossbar.py``."""

from __future__ import annotations

import os

import numpy as np

import spikemesh
from spikemesh.data.demo import accuracy, load_demo
from spikemesh.simulator.cores.crossbar.irdrop import ir_drop_closed_form, ir_drop_nodal


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
    print("\nPRIME-style input-aware early stop, demo model, T=20: softmax(mean output spikes / 0.25) top-1 > 0.8\n"
          "(PRIME uses alpha 2 on membrane outputs; 0/1 spike means need a smaller alpha)")
    r = spikemesh.simulate(g, x, engine="crossbar", config={"adc_bits": 8},
                           early_stop={"alpha": 0.25, "threshold": 0.8})
    steps = np.asarray(r.stats["steps_used"])
    full = spikemesh.simulate(g, x, engine="crossbar", config={"adc_bits": 8})
    # prediction at the stop step: spike counts up to t_stop
    out = r.output.astype(np.int64)
    cum = np.cumsum(out, axis=0)
    pred = np.argmax(cum[steps - 1, np.arange(len(y))], axis=1)
    print(f"mean steps used {steps.mean():.2f} of 20; accuracy at stop {np.mean(pred == y):.3f} "
          f"(full T {accuracy(full, y):.3f}); energy/sample {r.stats['energy']['per_sample_pj']:.0f} pJ vs "
          f"{full.stats['energy']['per_sample_pj']:.0f} pJ")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
