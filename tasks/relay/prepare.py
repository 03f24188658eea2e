"""Stage `prepare`: ARI-lite problem sets as JSONL, pairwise disjoint by string (sheet "Data").

Order of draws from one seeded generator and one `taken` set (so later sets never repeat earlier ones): test
(n_test per length 1..N+K, capped at 40 % of a length's problem space: k = 1 has only 242 problems), train
(n_train, lengths 1..N proportional to #ops), Stage II (n_stage2 per OOD length N+1..N+K), self-chain (n_selfchain
per phase length N+1..N+phases). Each line: {"k": #ops, "expr": token ids of `a0 o1 a1 ... ok ak`}.
Run: `paperflow stage relay prepare`.
"""
from __future__ import annotations

import json

import numpy as np

from . import data as D
from .params import PrepareParams

SETS = ("test", "train", "stage2", "selfchain")


def space(k: int, ops: str, mod: int) -> int:
    return mod ** (k + 1) * len(ops) ** k


def build_sets(p: PrepareParams, seed: int) -> dict[str, list[list[int]]]:
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    sets: dict[str, list[list[int]]] = {s: [] for s in SETS}
    for k in range(1, p.N + p.K + 1):
        sets["test"] += D.draw_unique(rng, k, min(p.n_test, int(0.4 * space(k, p.ops, p.mod))), taken, p.ops, p.mod)
    for k, c in D.length_counts(p.n_train, list(range(1, p.N + 1))).items():
        sets["train"] += D.draw_unique(rng, k, c, taken, p.ops, p.mod)
    for k in range(p.N + 1, p.N + p.K + 1):
        sets["stage2"] += D.draw_unique(rng, k, p.n_stage2, taken, p.ops, p.mod)
    for k in range(p.N + 1, p.N + p.phases + 1):
        sets["selfchain"] += D.draw_unique(rng, k, p.n_selfchain, taken, p.ops, p.mod)
    return sets


def load_set(io, name: str) -> list[list[int]]:
    path = io.input("prepare") / f"{name}.jsonl"
    try:
        return [json.loads(line)["expr"] for line in path.read_text().splitlines()]
    except FileNotFoundError:
        from tasks.common.errors import UserError
        raise UserError(f"{path}: missing; run `paperflow stage relay prepare`") from None
    except (json.JSONDecodeError, KeyError):
        from tasks.common.errors import UserError
        raise UserError(f"{path}: corrupt; delete it and re-run `paperflow stage relay prepare`") from None


def modulus(io) -> int:
    return int(io.load_json("prepare", "meta.json")["mod"])


def n_ops(e) -> int:
    return (len(e) - 1) // 2


def by_length(exprs: list[list[int]]) -> dict[int, list[list[int]]]:
    out: dict[int, list[list[int]]] = {}
    for e in exprs:
        out.setdefault(n_ops(e), []).append(e)
    return dict(sorted(out.items()))


def run(p: PrepareParams, io) -> dict[str, float]:
    sets = build_sets(p, io.seed("sets"))
    for name, exprs in sets.items():
        (io.out / f"{name}.jsonl").write_text("".join(json.dumps({"k": n_ops(e), "expr": e}) + "\n" for e in exprs))
    test_counts = {k: len(v) for k, v in by_length(sets["test"]).items()}
    io.save_json("meta.json", {"N": p.N, "K": p.K, "mod": p.mod, "ops": p.ops, "phases": p.phases,
                               "sizes": {s: len(v) for s, v in sets.items()}, "test_per_length": test_counts})
    return {**{f"n_{s}": len(v) for s, v in sets.items()}, "n_test_k1": test_counts.get(1, 0)}
