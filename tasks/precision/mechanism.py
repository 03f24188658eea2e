"""Stage `mechanism` (sheet Stage A): the proof mechanism of Feng et al. (arXiv 2410.13857, §4) computed exactly.

A1. Counting by averaging: a uniform attention head over m binary inputs outputs mean = c/m; the count is read
back as round(mean * m). With b significand bits the weights 1/m and the sums are rounded, and the largest m for
which every count c = 0..m still decodes exactly, m_max(b), is finite and grows about like 2^b. Two variants:
  - "low":   accumulation in the low format (sequential sum, rounding after every add);
  - "fp32":  fp32 accumulation of the low-precision weights, output rounded to b bits (what CPU bf16 GEMMs do).
Binary inputs make the result independent of the order of the ones (adding 0 never changes a rounded sum), so the
sum after c ones is all that matters.
A2. Hand-built circuits evaluated in each format ("illustration of the proof mechanism", not learning evidence):
  - ADD: parallel-prefix (Kogge-Stone) carry-lookahead on 0/1 values, every gate rounded to b bits: exact for any
    b >= 2 because no gate ever needs more than {0, 1};
  - IterADD: column counts of k summands by averaging (as in A1, m = k) plus an exact carry readout;
  - MUL: partial-product column counts by averaging over the n slots of a column (m = n) plus exact carries.
Both counting circuits break once k (resp. n) passes about m_max(b).

Arithmetic is exact: low-format values are float64 numbers rounded once to b bits (`round_sig_np`); fp32
accumulation uses numpy float32 adds. Run: `paperflow stage precision mechanism`.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.signal import fftconvolve

from tasks.common.stats import ols_slope

from .params import MechanismParams

Rounder = Callable[[np.ndarray], np.ndarray]
VARIANTS = ("low", "fp32")
NATIVE = {"bf16": 8, "fp16": 11, "e4m3fn": 4}  # torch dtypes cross-checked against the emulation


def round_sig_np(x: np.ndarray | float, b: int) -> np.ndarray:
    """Round float64 values to b significand bits, round-to-nearest-even, no exponent range (exact for b <= 52)."""
    x = np.asarray(x, dtype=np.float64)
    m, e = np.frexp(x)                       # x = m * 2^e, 0.5 <= |m| < 1
    return np.ldexp(np.rint(np.ldexp(m, b)), e - b)


def native_rounder(name: str) -> Rounder:
    """Rounding by a real torch cast (with the format's exponent range), for the cross-check."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "e4m3fn": torch.float8_e4m3fn}[name]

    def rnd(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.asarray(x, dtype=np.float32))   # exact: inputs here have <= 24 significant bits
        return t.to(dtype).to(torch.float64).numpy()
    return rnd


def _count_sums(ms: np.ndarray, rnd: Rounder, acc: str):
    """Yield (c, out) for c = 1, 2, ...: out[i] = the rounded mean of c ones among ms[i] inputs."""
    w = rnd(1.0 / ms)                                            # attention weights in the low format
    if acc == "low":
        s = np.zeros_like(w)
        c = 0
        while True:
            c += 1
            s = rnd(s + w)                                       # exact float64 sum, one rounding
            yield c, s
    elif acc == "fp32":
        w32, s32 = w.astype(np.float32), np.zeros(len(ms), dtype=np.float32)
        c = 0
        while True:
            c += 1
            s32 = s32 + w32                                      # float32 accumulation (one rounding per add)
            yield c, rnd(s32.astype(np.float64))                 # output rounded to the low format
    else:
        raise ValueError(f"accumulation variant must be one of {VARIANTS}, got {acc!r}")


def m_max(b: int | None, acc: str, m_cap: int, rnd: Rounder | None = None) -> int:
    """Largest m such that every count c = 0..m of m binary inputs decodes exactly (m_cap if none fails up to it).

    m_max = (smallest m at which some count decodes wrongly) - 1. Counts c only touch m >= c, so the sweep stops as
    soon as c reaches the smallest failing m found so far.
    """
    rnd = rnd or (lambda x: round_sig_np(x, b))
    ms = np.arange(1, m_cap + 1, dtype=np.float64)
    first_fail = m_cap + 1
    for c, out in _count_sums(ms, rnd, acc):
        if c >= first_fail or c > m_cap:
            break
        bad = (np.rint(out * ms) != c) & (ms >= c)
        if bad.any():
            first_fail = min(first_fail, int(ms[np.argmax(bad)]))
    return first_fail - 1


def decode_tables(b: int, acc: str, ms: list[int]) -> dict[int, np.ndarray]:
    """{m: decoded[c] for c = 0..m}: what the averaging head reads back for each true count."""
    rnd = lambda x: round_sig_np(x, b)  # noqa: E731
    arr = np.asarray(ms, dtype=np.float64)
    tables = {m: np.zeros(m + 1, dtype=np.int64) for m in ms}
    for c, out in _count_sums(arr, rnd, acc):
        if c > max(ms):
            break
        dec = np.rint(out * arr).astype(np.int64)
        for i, m in enumerate(ms):
            if c <= m:
                tables[m][c] = dec[i]
    return tables


def _value_is_zero(err: np.ndarray, chunk: int = 32) -> np.ndarray:
    """Rows where sum_t err[:, t] * 2^t == 0 exactly (|err| < 2^20): carries propagated over 32-column chunks."""
    n, T = err.shape
    pad = (-T) % chunk
    e = np.concatenate([err, np.zeros((n, pad), dtype=np.int64)], axis=1).reshape(n, -1, chunk)
    vals = (e << np.arange(chunk)).sum(-1)                      # (n, chunks): |value| < 2^53
    r = np.zeros(n, dtype=np.int64)
    ok = np.ones(n, dtype=bool)
    for c in range(vals.shape[1]):
        r = r + vals[:, c]
        ok &= (r % (1 << chunk)) == 0
        r = r >> chunk                                           # exact: the low bits are zero where ok
    return ok & (r == 0)


def cla_add(a: np.ndarray, b_: np.ndarray, rnd: Rounder) -> np.ndarray:
    """Kogge-Stone carry-lookahead a + b on LSB-first 0/1 digits (items, n) -> (items, n + 1); gates rounded by rnd."""
    AND = lambda x, y: rnd(x * y)           # noqa: E731
    OR = lambda x, y: rnd(x + y - x * y)    # noqa: E731
    XOR = lambda x, y: rnd(x + y - 2 * x * y)  # noqa: E731
    a, b_ = a.astype(np.float64), b_.astype(np.float64)
    g, p = AND(a, b_), XOR(a, b_)
    G, P = g.copy(), p.copy()               # (G, P)[i] = generate/propagate of the span ending at i
    n, d = a.shape[1], 1
    while d < n:
        G2 = OR(G[:, d:], AND(P[:, d:], G[:, :-d]))
        P2 = AND(P[:, d:], P[:, :-d])
        G = np.concatenate([G[:, :d], G2], axis=1)
        P = np.concatenate([P[:, :d], P2], axis=1)
        d *= 2
    carry_in = np.concatenate([np.zeros((a.shape[0], 1)), G], axis=1)   # carry into digit i = G of span [0, i-1]
    s = XOR(np.concatenate([p, np.zeros((a.shape[0], 1))], axis=1), carry_in)
    return s.astype(np.int64)


def ripple_add(a: np.ndarray, b_: np.ndarray) -> np.ndarray:
    """Reference: schoolbook integer addition of LSB-first digit arrays."""
    out = np.zeros((a.shape[0], a.shape[1] + 1), dtype=np.int64)
    carry = np.zeros(a.shape[0], dtype=np.int64)
    for i in range(a.shape[1]):
        t = a[:, i] + b_[:, i] + carry
        out[:, i], carry = t % 2, t // 2
    out[:, -1] = carry
    return out


def iteradd_circuit_acc(table: np.ndarray, k: int, n_bits: int, items: int, rng: np.random.Generator) -> float:
    """Exact-match accuracy of the column-count IterADD circuit (k random n-bit summands).

    The count of ones in a column of k uniform random digits is Binomial(k, 1/2): sampled directly.
    """
    counts = rng.binomial(k, 0.5, size=(items, n_bits))          # (items, n): true column counts
    return float(_value_is_zero(table[counts] - counts).mean())


def mul_circuit_acc(table: np.ndarray, n: int, items: int, rng: np.random.Generator) -> float:
    """Exact-match accuracy of the partial-product column-count MUL circuit (two random n-bit factors)."""
    a = rng.integers(0, 2, size=(items, n)).astype(np.float64)
    b_ = rng.integers(0, 2, size=(items, n)).astype(np.float64)
    counts = np.rint(fftconvolve(a, b_, axes=1)).astype(np.int64)   # (items, 2n-1): column t = sum_{i+j=t} a_i b_j
    return float(_value_is_zero(table[counts] - counts).mean())


def first_failure(grid: list[int], accs: list[float]) -> float:
    """Smallest grid value with accuracy < 1 (inf if none)."""
    bad = [x for x, a in zip(grid, accs) if a < 1.0]
    return float(min(bad)) if bad else float("inf")


def run(p: MechanismParams, io) -> dict[str, float]:
    out: dict = {"bits": p.bits, "m_cap": p.m_cap, "m_max": {}, "native": {}, "add": {}, "iteradd": {}, "mul": {},
                 "circuit_grid": p.circuit_grid, "add_max_n": p.add_max_n, "add_bits": p.add_bits}
    metrics: dict[str, float] = {}
    # A1: m_max(b) for both accumulation variants, the fp32 reference, and real torch casts
    for acc in VARIANTS:
        mm = [m_max(b, acc, p.m_cap) for b in p.bits]
        out["m_max"][acc] = dict(zip(map(str, p.bits), mm))
        metrics.update({f"m_max_{acc}_b{b}": v for b, v in zip(p.bits, mm)})
        metrics[f"slope_{acc}"] = ols_slope(p.bits, np.log2(mm))
        metrics[f"m_max_{acc}_fp32"] = m_max(24, acc, p.m_cap)
        out["m_max"][acc]["24"] = metrics[f"m_max_{acc}_fp32"]
        for name, b in NATIVE.items():
            v = m_max(None, acc, p.m_cap, native_rounder(name))
            out["native"][f"{name}_{acc}"] = v
            metrics[f"native_{name}_{acc}_agrees"] = int(v == m_max(b, acc, p.m_cap))
    # A2: ADD carry-lookahead exact in every format
    rng = np.random.default_rng(io.seed("add"))
    worst = 1.0
    for b in p.add_bits:
        rnd = lambda x, b=b: round_sig_np(x, b)  # noqa: E731
        accs = []
        for n in range(1, p.add_max_n + 1):
            a, b_ = rng.integers(0, 2, size=(2, p.circuit_items, n))
            accs.append(float((cla_add(a, b_, rnd) == ripple_add(a, b_)).all(axis=1).mean()))
        out["add"][str(b)] = min(accs)
        worst = min(worst, min(accs))
    metrics["add_cla_min_acc"] = worst
    # A2: counting circuits break near m_max(b)
    for acc in VARIANTS:
        for b in p.bits:
            tables = decode_tables(b, acc, p.circuit_grid)
            r1, r2 = np.random.default_rng(io.seed("iteradd", b, acc)), np.random.default_rng(io.seed("mul", b, acc))
            it = [iteradd_circuit_acc(tables[k], k, p.iteradd_bits, p.circuit_items, r1) for k in p.circuit_grid]
            mu = [mul_circuit_acc(tables[n], n, p.mul_items, r2) for n in p.circuit_grid]
            out["iteradd"][f"{acc}_b{b}"], out["mul"][f"{acc}_b{b}"] = it, mu
            metrics[f"iteradd_kfail_{acc}_b{b}"] = first_failure(p.circuit_grid, it)
            metrics[f"mul_nfail_{acc}_b{b}"] = first_failure(p.circuit_grid, mu)
    io.save_json("mechanism.json", out)
    return metrics
