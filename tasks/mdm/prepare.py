"""Stage `prepare`: the synthetic bigram languages with exact likelihoods (sheet "Data"; Feng et al. 2502.09622).

Writes languages.npz: dense_pi (S, V), dense_P (S, V, V), sparse_pi, sparse_P for S language seeds, and
languages.json with their exact per-token entropies. Run: `paperflow stage mdm prepare`.
"""
from __future__ import annotations

import numpy as np

from .languages import dense_bigram, exact_entropy, sparse_bigram
from .params import PrepareParams


def run(p: PrepareParams, io) -> dict[str, float]:
    dense, sparse = [], []
    for s in range(p.n_lang_seeds):
        dense.append(dense_bigram(np.random.default_rng(io.seed("dense", s)), p.vocab, p.dense_alpha, p.dense_mix))
        sparse.append(sparse_bigram(np.random.default_rng(io.seed("sparse", s)), p.vocab))
    io.save_npz("languages.npz", dense_pi=np.stack([d[0] for d in dense]), dense_P=np.stack([d[1] for d in dense]),
                sparse_pi=np.stack([s[0] for s in sparse]), sparse_P=np.stack([s[1] for s in sparse]))
    rate = {k: [exact_entropy(pi, P, 2) - exact_entropy(pi, P, 1) for pi, P in langs]
            for k, langs in (("dense", dense), ("sparse", sparse))}
    io.save_json("languages.json", {"n_seeds": p.n_lang_seeds, "vocab": p.vocab, "entropy_rate_nats": rate})
    return {"dense_entropy_rate": float(np.mean(rate["dense"])), "sparse_entropy_rate": float(np.mean(rate["sparse"])),
            "n_languages": 2 * p.n_lang_seeds}


def load_languages(io) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """{'dense': [(pi, P), ...], 'sparse': [...]} from the prepare stage's output."""
    z = io.load_npz("prepare", "languages.npz")
    return {k: list(zip(z[f"{k}_pi"], z[f"{k}_P"])) for k in ("dense", "sparse")}
