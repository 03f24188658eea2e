"""ARI-lite: modular-arithmetic chains, their AR-CoT sequences and the looped model's per-round targets.

Sheet shared/papers/relay.md, "Data" (design): numbers in Z_11, operators {+, -} reduced left to right, one per
round (optional tier {+, -, *}: leftmost * first, else the leftmost operator), so #rounds = #ops = k.

- AR sequence: `<bos> a0 o1 a1 ... ok ak = s1 = ... = s_{k-1} = ans <eos>`, s_t the expression after t reductions.
- Looped input: `a0 o1 ... ok ak =` (width n = 2k + 2). Round t < k target: `s_t =` in width n, padded. The paper
  right-aligns (left pads) so untouched tokens keep their positions; `align="left"` (the default profile, see the
  README) puts `s_t =` first and pads on the right, so the frontier sits at a fixed position and every untouched
  token moves by a constant 2 per round. The answer comes from the answer head.
- Mask M_t: non-pad target tokens plus the pad next to the content (the last pad when right-aligned: the paper's
  Stage-I mask; the first pad when left-aligned).
Everything here is integer list / numpy work; no torch.
"""
from __future__ import annotations

import numpy as np

P_MOD = 11            # number tokens 0..10 (the vocabulary); a problem set may use a smaller modulus (prepare.mod)
PLUS, MINUS, TIMES, EQ, PAD, BOS, EOS = 11, 12, 13, 14, 15, 16, 17
VOCAB = 18
OPS = {"+": PLUS, "-": MINUS, "*": TIMES}
NAMES = [str(i) for i in range(P_MOD)] + ["+", "-", "*", "=", "<pad>", "<bos>", "<eos>"]


def apply_op(a: int, op: int, b: int, mod: int = P_MOD) -> int:
    if op == PLUS:
        return (a + b) % mod
    if op == MINUS:
        return (a - b) % mod
    if op == TIMES:
        return (a * b) % mod
    raise ValueError(f"not an operator token: {op}")


def reduce_once(nums: list[int], ops: list[int], mod: int = P_MOD) -> tuple[list[int], list[int]]:
    """One CoT round: the leftmost * if any, else the leftmost operator, is evaluated."""
    i = ops.index(TIMES) if TIMES in ops else 0
    v = apply_op(nums[i], ops[i], nums[i + 1], mod)
    return nums[:i] + [v] + nums[i + 2:], ops[:i] + ops[i + 1:]


def expr_tokens(nums: list[int], ops: list[int]) -> list[int]:
    out = [nums[0]]
    for o, b in zip(ops, nums[1:]):
        out += [o, b]
    return out


def states(nums: list[int], ops: list[int], mod: int = P_MOD) -> list[tuple[list[int], list[int]]]:
    """s_0 .. s_k: the expression after t reductions (s_k is the answer alone)."""
    out = [(list(nums), list(ops))]
    while out[-1][1]:
        out.append(reduce_once(*out[-1], mod))
    return out


def direct_eval(nums: list[int], ops: list[int], mod: int = P_MOD) -> int:
    """Reference evaluator, independent of the chain: products first (left to right), then +/- left to right."""
    terms, signs, cur = [], [PLUS], nums[0]
    for o, b in zip(ops, nums[1:]):
        if o == TIMES:
            cur = cur * b
        else:
            terms.append(cur)
            signs.append(o)
            cur = b
    terms.append(cur)
    return sum(t if s == PLUS else -t for s, t in zip(signs, terms)) % mod


def ar_sequence(nums: list[int], ops: list[int], mod: int = P_MOD) -> list[int]:
    """`<bos> s0 = s1 = ... = s_{k-1} = ans <eos>` as token ids."""
    st = states(nums, ops, mod)
    seq = [BOS]
    for n_, o_ in st[:-1]:
        seq += expr_tokens(n_, o_) + [EQ]
    return seq + [st[-1][0][0], EOS]


def prompt_len(k: int) -> int:
    """Tokens of `<bos> s0 =`: the AR model's prompt."""
    return 2 * k + 3


def ar_len(k: int) -> int:
    return k * k + 3 * k + 3


def looped_example(nums: list[int], ops: list[int], mod: int = P_MOD,
                   align: str = "right") -> tuple[list[int], list[list[int]], int]:
    """(input `s0 =` of width n, round targets t = 1..k-1 padded to n (right-aligned: left pads), answer)."""
    st = states(nums, ops, mod)
    x = expr_tokens(nums, ops) + [EQ]
    n = len(x)
    rounds = []
    for n_, o_ in st[1:-1]:
        r = expr_tokens(n_, o_) + [EQ]
        rounds.append([PAD] * (n - len(r)) + r if align == "right" else r + [PAD] * (n - len(r)))
    return x, rounds, st[-1][0][0]


def round_mask(target: np.ndarray, align: str = "right") -> np.ndarray:
    """M_t[i] = 1 iff target[i] != pad or i is the pad next to the content (right-aligned: the last pad, right
    before the content; left-aligned: the first pad, right after it); (..., n)."""
    t = np.asarray(target)
    idx = np.arange(t.shape[-1])
    if align == "right":
        edge = np.where(t == PAD, idx, -1).max(-1, keepdims=True)   # -1 when a row has no pad
    else:
        edge = np.where(t == PAD, idx, t.shape[-1]).min(-1, keepdims=True)
    return (t != PAD) | (idx == edge)


def strip_round(pred: list[int] | np.ndarray, align: str = "right") -> list[int]:
    """A predicted round read off the CoT head: right-aligned, the tokens right of the rightmost predicted pad;
    left-aligned, the tokens left of the leftmost predicted pad."""
    p = list(int(v) for v in pred)
    pads = [i for i, v in enumerate(p) if v == PAD]
    if not pads:
        return p
    return p[pads[-1] + 1:] if align == "right" else p[:pads[0]]


def assemble(x: list[int], rounds: list[list[int]], ans: int, align: str = "right") -> list[int]:
    """Stage II: an AR-format chain from the problem, the (stripped) rounds `s_t =` and the answer."""
    seq = [BOS] + list(x)
    for r in rounds:
        seq += strip_round(r, align)
    return seq + [int(ans), EOS]


def parse_answer(seq: list[int], start: int) -> int | None:
    """The answer of a generated AR sequence: `= ans <eos>` at its end (first <eos> after `start`); else None."""
    gen = list(seq[start:])
    if EOS not in gen:
        return None
    full = list(seq[:start]) + gen[:gen.index(EOS)]
    if len(full) < 2 or full[-2] != EQ or not (0 <= full[-1] < P_MOD):
        return None
    return int(full[-1])


def cut_eos(seq: list[int], start: int) -> list[int]:
    """Generated tokens after `start`, up to and including the first <eos> (all of them if none)."""
    gen = list(seq[start:])
    return gen[:gen.index(EOS) + 1] if EOS in gen else gen


def token_accuracy(gen: list[int], gt: list[int]) -> float:
    """Position-wise matches over max(len) positions: missing or extra tokens count as errors."""
    L = max(len(gen), len(gt))
    if L == 0:
        return 1.0
    return sum(a == b for a, b in zip(gen, gt)) / L


def split_rounds(chain: list[int]) -> list[list[int]]:
    """A CoT (tokens after the prompt, with <eos>) cut after each `=`: rounds `s_t =`, then [ans, <eos>]."""
    out, cur = [], []
    for t in chain:
        cur.append(t)
        if t == EQ:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def hit_matrix(chains: list[list[int]], gts: list[list[int]], k: int) -> np.ndarray:
    """(k, 2k+2) share of problems whose round t (rows; the last row is `ans <eos>`) holds the ground-truth token
    at position j from the right (column 0 = rightmost); a missing round or position is a miss."""
    n = 2 * k + 2
    H = np.zeros((k, n))
    for ch, gt in zip(chains, gts):
        rc, rg = split_rounds(ch), split_rounds(gt)
        for t in range(k):
            g = rg[t]
            c = rc[t] if t < len(rc) else []
            for j in range(len(g)):
                H[t, j] += j < len(c) and c[-1 - j] == g[-1 - j]
    return H / max(1, len(chains))


def sample_problems(rng: np.random.Generator, k: int, m: int, ops: str = "+-", mod: int = P_MOD) -> np.ndarray:
    """m problems with k operators: (m, 2k+1) token arrays `a0 o1 a1 ... ok ak`, numbers in Z_mod."""
    nums = rng.integers(0, mod, size=(m, k + 1))
    o = np.array([OPS[c] for c in ops])[rng.integers(0, len(ops), size=(m, k))]
    out = np.empty((m, 2 * k + 1), dtype=np.int64)
    out[:, 0::2], out[:, 1::2] = nums, o
    return out


def split_expr(e) -> tuple[list[int], list[int]]:
    e = [int(v) for v in e]
    return e[0::2], e[1::2]


def key(e) -> str:
    return " ".join(NAMES[int(v)] for v in e)


def length_counts(total: int, lengths: list[int]) -> dict[int, int]:
    """Problems per length, proportional to the number of operators (Feng et al.'s `--under`)."""
    w = np.asarray(lengths, float)
    c = np.floor(total * w / w.sum()).astype(int)
    c[-1] += total - c.sum()
    return {k: int(v) for k, v in zip(lengths, c)}


def draw_unique(rng: np.random.Generator, k: int, m: int, taken: set[str], ops: str = "+-",
                mod: int = P_MOD) -> list[list[int]]:
    """m distinct problems with k ops, none in `taken` (which is updated); fewer if the space runs out."""
    out: list[list[int]] = []
    space = mod ** (k + 1) * len(ops) ** k
    tries = 0
    while len(out) < m and tries < 50:
        for e in sample_problems(rng, k, 2 * (m - len(out)) + 16, ops, mod):
            s = key(e)
            if s not in taken:
                taken.add(s)
                out.append([int(v) for v in e])
                if len(out) == m:
                    break
        tries += 1
        if len(taken) >= space:
            break
    return out
