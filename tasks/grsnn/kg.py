"""K1: a synthetic family-tree knowledge graph with known Horn rules (sheet, Data), and its relation-blind ceiling.

Families of three generations: a founding couple, 2-3 children each married to an in-law, 1-3 grandchildren per
couple, random gender. Deviation (the sheet's recommended fix for the K1 ceiling): every grandchild is married to an
outside spouse too, so every person carries a gendered relation (father_of/mother_of or husband_of/wife_of) and an
ideal rule learner can answer every derived query.

Graph relations (base, the message graph): father_of, mother_of, husband_of, wife_of; the model adds inverses
(ids 4-7). Query relations: the 12 derived relations below (ids 0-11) and their inverses (12-23): a tail query
(x, r, ?) and a head query (y, r^-1, ?) per derived fact. The graph holds every base fact and no derived fact.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

BASE = ("father_of", "mother_of", "husband_of", "wife_of")
NB = len(BASE)
GRAPH_RELS = BASE + tuple(f"{r}^-1" for r in BASE)          # 8 typed edge directions
F, M, H, W, Fi, Mi, Hi, Wi = range(8)
DERIVED = ("grandfather_of", "grandmother_of", "son_of", "daughter_of", "brother_of", "sister_of", "uncle_of",
           "aunt_of", "nephew_of", "niece_of", "cousin_of", "father_in_law_of")
ND = len(DERIVED)
QUERY_RELS = DERIVED + tuple(f"{r}^-1" for r in DERIVED)     # 24 query types
PARENT, CHILD, SPOUSE = {F, M}, {Fi, Mi}, {H, W, Hi, Wi}
# rule-body graph relations of each derived relation, as traversed from head x to tail y (equivalent directions
# included: husband_of(x, w) is also wife_of^-1 from x to w). Used by G3.
RULE_BODY = {
    "grandfather_of": {F, M}, "grandmother_of": {F, M},
    "son_of": {Fi, Mi}, "daughter_of": {Fi, Mi},
    "brother_of": PARENT | CHILD, "sister_of": PARENT | CHILD,
    "uncle_of": PARENT | CHILD | {H, Wi}, "aunt_of": PARENT | CHILD | {W, Hi},
    "nephew_of": PARENT | CHILD | SPOUSE, "niece_of": PARENT | CHILD | SPOUSE,
    "cousin_of": PARENT | CHILD, "father_in_law_of": {F} | SPOUSE,
}
INV_GRAPH = {r: (r + NB) % (2 * NB) for r in range(2 * NB)}


def query_body(q: int) -> set[int]:
    """Rule-body graph relations of query type q (an inverse query walks the body backwards, types inverted)."""
    body = RULE_BODY[DERIVED[q % ND]]
    return set(body) if q < ND else {INV_GRAPH[r] for r in body}


@dataclass
class KG:
    n: int                         # entities
    male: np.ndarray               # (n,) bool
    family: np.ndarray             # (n,) family id
    generation: np.ndarray         # (n,) 0 founders, 1 children + in-laws, 2 grandchildren + their spouses
    base: np.ndarray               # (B, 3) base facts (h, r, t), r in 0..3
    derived: np.ndarray            # (Dv, 3) derived facts, r in 0..11


def generate(rng: np.random.Generator, families: int, children=(2, 3), grandchildren=(1, 3)) -> KG:
    male, fam, gen, base = [], [], [], []

    def person(is_male: bool, f: int, g: int) -> int:
        male.append(is_male), fam.append(f), gen.append(g)
        return len(male) - 1

    def marry(a: int, b: int) -> None:             # a, b of opposite gender
        hu, wi = (a, b) if male[a] else (b, a)
        base.extend([(hu, H, wi), (wi, W, hu)])

    def parent(p: int, c: int) -> None:
        base.append((p, F if male[p] else M, c))

    for f in range(families):
        pa, ma = person(True, f, 0), person(False, f, 0)
        marry(pa, ma)
        for _ in range(rng.integers(children[0], children[1] + 1)):
            c = person(bool(rng.integers(2)), f, 1)
            parent(pa, c), parent(ma, c)
            s = person(not male[c], f, 1)
            marry(c, s)
            for _ in range(rng.integers(grandchildren[0], grandchildren[1] + 1)):
                g = person(bool(rng.integers(2)), f, 2)
                parent(c, g), parent(s, g)
                marry(g, person(not male[g], f, 2))
    kg = KG(len(male), np.array(male), np.array(fam), np.array(gen), np.array(base, dtype=np.int64),
            np.zeros((0, 3), dtype=np.int64))
    kg.derived = closure(kg.n, kg.male, kg.base)
    return kg


def closure(n: int, male: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Every derived fact implied by the rules (sheet, Data), from the base facts alone; sorted (h, r, t)."""
    par = defaultdict(set)        # child -> parents
    kids = defaultdict(set)       # parent -> children
    spouse = defaultdict(set)
    for h, r, t in base.tolist():
        if r in (F, M):
            par[t].add(h), kids[h].add(t)
        else:
            spouse[h].add(t)
    sib = {x: {y for p in par[x] for y in kids[p]} - {x} for x in range(n)}
    facts = set()
    R = {name: i for i, name in enumerate(DERIVED)}
    for x in range(n):
        g = "m" if male[x] else "f"
        for c in kids[x]:
            for gc in kids[c]:
                facts.add((x, R["grandfather_of" if g == "m" else "grandmother_of"], gc))
            if male[x]:
                for s in spouse[c]:
                    facts.add((x, R["father_in_law_of"], s))
        for p in par[x]:
            facts.add((x, R["son_of" if g == "m" else "daughter_of"], p))
        for s in sib[x]:
            facts.add((x, R["brother_of" if g == "m" else "sister_of"], s))
        for z in sib[x] | {w for w in spouse[x] for w in sib[w]}:          # x's siblings or spouse's siblings
            for y in kids[z]:
                facts.add((x, R["uncle_of" if g == "m" else "aunt_of"], y))
                facts.add((y, R["nephew_of" if male[y] else "niece_of"], x))
        for p in par[x]:
            for ps in sib[p]:
                for y in kids[ps]:
                    facts.add((x, R["cousin_of"], y))
    return np.array(sorted(facts), dtype=np.int64).reshape(-1, 3)


def split(derived: np.ndarray, rng: np.random.Generator, frac=(0.7, 0.15)) -> dict[str, np.ndarray]:
    """Derived facts split 70/15/15 into train/valid/test (seeded permutation)."""
    perm = rng.permutation(len(derived))
    a, b = int(round(frac[0] * len(derived))), int(round((frac[0] + frac[1]) * len(derived)))
    return {"train": derived[np.sort(perm[:a])], "valid": derived[np.sort(perm[a:b])], "test": derived[np.sort(perm[b:])]}


def queries(facts: np.ndarray) -> np.ndarray:
    """(h, q, t) queries: a tail query per fact and a head query with the inverse relation."""
    return np.concatenate([facts, np.stack([facts[:, 2], facts[:, 1] + ND, facts[:, 0]], 1)]).astype(np.int64)


def edges(base: np.ndarray) -> np.ndarray:
    """The message graph: every base fact and its inverse, as (src, rel, dst) with rel in 0..7."""
    inv = np.stack([base[:, 2], base[:, 1] + NB, base[:, 0]], 1)
    return np.concatenate([base, inv]).astype(np.int64)


def answer_sets(qs: np.ndarray) -> dict[tuple[int, int], set[int]]:
    out: dict[tuple[int, int], set[int]] = defaultdict(set)
    for h, q, t in qs.tolist():
        out[(h, q)].add(t)
    return out


def roles(n: int, edge: np.ndarray, source: int, typed: bool, rounds: int = 8) -> list[int]:
    """Canonical structural roles of every node relative to `source`: colour refinement (1-WL) with the source
    individualised, `rounds` rounds, colours kept as hashes of the nested signatures so that roles compare across
    sources. `typed` uses the edge types, else the untyped multigraph (multiplicities kept). A message-passing model
    of that kind gives nodes of one role the same score."""
    col = [0] * n
    col[source] = 1
    nin: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for s, r, d in edge.tolist():
        nin[d].append((r if typed else 0, s))
    for _ in range(rounds):
        col = [hash((col[v], tuple(sorted((r, col[s]) for r, s in nin[v])))) for v in range(n)]
    return col


def ceiling(n: int, edge: np.ndarray, eval_qs: np.ndarray, all_qs: np.ndarray, typed: bool) -> dict[str, float]:
    """Filtered pessimistic MRR / H@1 of an ideal model that sees only (query relation, role of the candidate):
    it scores a role by the share of answers among the (query, role) occurrences over all facts (an optimistic
    posterior), so nodes of one role tie. Untyped roles give the relation-blind ceiling for G1."""
    role = {h: roles(n, edge, h, typed) for h in sorted(set(all_qs[:, 0].tolist()))}
    ans = answer_sets(all_qs)
    pos, tot = defaultdict(int), defaultdict(int)
    for (h, q), a in ans.items():
        for v in range(n):
            tot[(q, role[h][v])] += 1
            pos[(q, role[h][v])] += v in a
    rr = []
    for h, q, t in eval_qs.tolist():
        sc = np.array([pos[(q, c)] / tot[(q, c)] for c in role[h]])
        neg = np.ones(n, bool)
        neg[list(ans[(h, q)])] = False
        rr.append(1.0 / (1 + int((sc[neg] >= sc[t]).sum())))
    rr = np.array(rr)
    return {"mrr": float(rr.mean()), "hits1": float((rr == 1.0).mean())}
