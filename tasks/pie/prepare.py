"""Stage `prepare`: the synthetic mini-repo training corpus and the edit instances (sheet "Data", "Edit protocol").

Writes `train.npz` (tokens padded to `context`, lengths), `instances.json` (per task: pre-edit x, post-edit x',
edits, target line) and `vocab.json`. Instances come from a separate seed stream; any instance whose post-edit file
also occurs in the training corpus is redrawn (disjoint by construction). Run: `paperflow stage pie prepare`.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .edits import PAD, TASKS, VOCAB, encode, make_instance, make_train_file
from .params import PrepareParams


def _h(ids) -> str:
    return hashlib.sha1(np.asarray(ids, dtype=np.int16).tobytes()).hexdigest()


def run(p: PrepareParams, io) -> dict[str, float]:
    rng = np.random.default_rng(io.seed("train-files"))
    toks = np.full((p.n_train_files, p.context), PAD, dtype=np.int16)
    lens = np.zeros(p.n_train_files, dtype=np.int32)
    seen = set()
    for r in io.progress(range(p.n_train_files), total=p.n_train_files, desc="files"):
        ids = encode(make_train_file(rng, p.min_len, p.max_len))
        toks[r, :len(ids)], lens[r] = ids, len(ids)
        seen.add(_h(ids))
    io.save_npz("train.npz", tokens=toks, lengths=lens)
    out, metrics, clashes = {}, {"n_train_files": p.n_train_files, "train_tokens": int(lens.sum())}, 0
    for t in TASKS:
        rng = np.random.default_rng(io.seed("instances", t))
        rows = []
        while len(rows) < p.n_instances:
            inst = make_instance(rng, t, p.min_len, p.max_len)
            if len(inst["x"]) > p.context:
                continue
            if _h(inst["xp"]) in seen:
                clashes += 1
                continue
            rows.append(inst)
        out[t] = rows
        metrics[f"{t}_mean_len"] = float(np.mean([len(r["xp"]) for r in rows]))
        metrics[f"{t}_mean_new_tokens"] = float(np.mean([sum(len(e[2]) for e in r["edits"]) for r in rows]))
        metrics[f"{t}_mean_abs_delta"] = float(np.mean([abs(len(r["xp"]) - len(r["x"])) for r in rows]))
    io.save_json("instances.json", out)
    io.save_json("vocab.json", VOCAB)
    metrics.update({"n_instances": p.n_instances, "vocab": len(VOCAB), "train_clashes": clashes})
    return metrics
