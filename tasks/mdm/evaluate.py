"""Stage `evaluate`: the trained MDMs on the L x N grid with both samplers (sheet "Grid and metrics", trained grid).

The dense-language model is scored by Δ_TER, the sparse-language model by SER, each under the Bernoulli and the
fixed-count schedule, with float64 inverse-CDF sampling. Writes grid.json (same row schema as the oracle sweep).

The sparse Bernoulli block also runs N = 2L and 4L (`SER_BEYOND_L`): the theorem's SER needs N linear in L, and a
trained model's Bernoulli SER approaches its any-order floor (fixed-count N = L) only for N >> L, so a grid capped at
N = L cannot contain N*_SER(0.5) for a model whose SER at N = L is above 0.5 (issue 14: it was 0.50 / 0.63 / 0.85).
The fixed-count schedule is defined for N <= L only. Run: `paperflow stage mdm evaluate`.
"""
from __future__ import annotations

import numpy as np
import torch

from tasks.common.errors import UserError

from .grid import evaluate_cell, grid_ns
from .model import model_denoiser
from .params import EvaluateParams
from .prepare import load_languages
from .train import build

SER_BEYOND_L = (2, 4)   # sparse language, Bernoulli schedule: N = k * L beyond the N <= L grid (see docstring)


def ns_for(lang: str, sched: str, L: int) -> list[int]:
    """The trained grid's N at length L: grid_ns(L), plus k * L for the sparse Bernoulli (SER) block."""
    extra = [k * L for k in SER_BEYOND_L] if (lang, sched) == ("sparse", "bernoulli") else []
    return sorted({*grid_ns(L), *extra})


def run(p: EvaluateParams, io) -> dict[str, float]:
    torch.manual_seed(0)
    langs = load_languages(io)
    rows: list[dict] = []
    for lang in io.progress(("dense", "sparse"), desc="trained grid"):
        model = io.load_model("train", build, lang)
        cfg = io.load_json("train", "model.json", lang)
        if max(p.lengths) > cfg["max_len"]:
            raise UserError(f"params.yaml: mdm.evaluate.lengths go up to {max(p.lengths)} but the model was trained "
                            f"with L_max={cfg['max_len']}; lower them or raise mdm.train.lengths")
        pi, P = langs[lang][cfg["lang_seed"]]
        den = model_denoiser(model, int(pi.size))
        for sched in ("bernoulli", "fixed"):
            for L in p.lengths:
                for N in ns_for(lang, sched, L):
                    r = evaluate_cell(pi, P, L, N, sched, den, p.samples,
                                      np.random.default_rng(io.seed("trained", lang, sched, L, N)))
                    r.pop("seconds", None)
                    rows.append({**r, "lang_seed": 0, "language": lang, "denoiser": "trained", "eta": 0.0})
    io.save_json("grid.json", rows)
    at = lambda lang, sched, L: next(r for r in rows if (r["language"], r["schedule"], r["L"], r["N"]) == (lang, sched, L, L))  # noqa: E731
    L0, L1 = min(p.lengths), max(p.lengths)
    return {"cells": len(rows), f"delta_fixed_N_eq_L_{L1}": at("dense", "fixed", L1)["delta_ter"],
            f"ser_fixed_N_eq_L_{L0}": at("sparse", "fixed", L0)["ser"],
            f"ser_bernoulli_N_eq_L_{L1}": at("sparse", "bernoulli", L1)["ser"]}
