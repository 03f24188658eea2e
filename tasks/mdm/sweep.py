"""Stage `sweep`: the exact-oracle and noisy-oracle L x N grids (sheet "Denoisers" 1-2, "Grid and metrics").

For every language seed: dense language + Bernoulli schedule (TER), sparse language + Bernoulli and fixed-count
schedules (SER); direct ancestral samples as the metric calibration (Δ ≈ 0, SER = 0). The noisy oracle
(1-η)p* + η/V runs on the first language seed only, at N ∈ {16, 64} ∪ {frac·L}. Writes grid.json (one row per
cell). Run: `paperflow stage mdm sweep`.
"""
from __future__ import annotations

import numpy as np

from .grid import cell_metrics, evaluate_cell, grid_ns, oracle_grid
from .languages import sample_direct
from .oracle import OracleDenoiser, noisy
from .params import SweepParams
from .prepare import load_languages

BLOCKS = (("dense", "bernoulli"), ("sparse", "bernoulli"), ("sparse", "fixed"))


def base_ns(p: SweepParams) -> tuple[int, ...]:
    k0 = max(0, int(np.log2(p.min_steps)))
    return tuple(2 ** k for k in range(k0, p.max_log2_steps + 1))


def run(p: SweepParams, io) -> dict[str, float]:
    langs = load_languages(io)
    ns_for = lambda L: grid_ns(L, base_ns(p))  # noqa: E731
    rows: list[dict] = []
    jobs = [(s, lang, sched) for s in range(len(langs["dense"])) for lang, sched in BLOCKS]
    for s, lang, sched in io.progress(jobs, desc="oracle grid"):
        pi, P = langs[lang][s]
        for r in oracle_grid(pi, P, p.lengths, sched, p.samples, io.seed("grid", s, lang), ns_for=ns_for):
            rows.append({**r, "lang_seed": s, "language": lang, "denoiser": "oracle", "eta": 0.0})
    for s in range(len(langs["dense"])):  # calibration: direct samples from q
        for lang in ("dense", "sparse"):
            pi, P = langs[lang][s]
            for L in p.lengths:
                x = sample_direct(pi, P, L, p.samples, np.random.default_rng(io.seed("direct", s, lang, L)))
                rows.append({**cell_metrics(x, pi, P), "N": L, "schedule": "direct", "lang_seed": s,
                             "language": lang, "denoiser": "direct", "eta": 0.0})
    for eta in p.noisy_etas:
        for lang, sched in BLOCKS:
            pi, P = langs[lang][0]
            den = noisy(OracleDenoiser(pi, P, max(p.lengths)), eta, pi.size)
            for L in p.lengths:
                ns = sorted({n for n in (16, 64, *(int(f * L) for f in p.noisy_step_fracs)) if 1 <= n <= L})
                for N in ns:
                    r = evaluate_cell(pi, P, L, N, sched, den, p.samples,
                                      np.random.default_rng(io.seed("noisy", eta, lang, sched, L, N)))
                    rows.append({**r, "lang_seed": 0, "language": lang, "denoiser": "noisy", "eta": eta})
    for r in rows:
        r.pop("seconds", None)  # keep the output deterministic
    io.save_json("grid.json", rows)
    direct = [r for r in rows if r["denoiser"] == "direct"]
    return {"cells": len(rows),
            "direct_max_abs_delta_over_se": max(abs(r["delta_ter"]) / r["delta_se"] for r in direct
                                                if r["language"] == "dense"),
            "direct_max_ser": max(r["ser"] for r in direct if r["language"] == "sparse"),
            "zero_normaliser_events": sum(int(r.get("n_zero", 0)) for r in rows)}
