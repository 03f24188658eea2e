"""Synthetic "mini-repo" code files and edit instances (sheet "Data" and "Edit protocol").

A file is (1) a "cross-file" header of 2-4 function definitions, (2) random in-file statements, (3) a header
function being re-typed (possibly renamed), cut at a line boundary inside the copy. The target is the next line of
the source body: learnable by line-level induction (previous-token and relative-offset attention).

Edits are always built so that the POST-edit file is a natural sample (ground truth exact); the pre-edit file
differs at the target-relevant spot in the source function (and, for `edition`, elsewhere too):
- insertion: pre-edit lacks 1-3 source lines right after the last copied one; the edit re-inserts them;
- deletion: pre-edit has 1-3 extra lines there; the edit deletes them;
- edition: 2-3 length-changing one-line replacements: the target-relevant one plus 1-2 elsewhere (header or
  in-file code), so offsets accumulate.
An edit is (i, j, y) on the pre-edit tokens x: x[i:j] is replaced by y (Delta = len(y) - (j - i)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPECIAL = ["<pad>", "NL", "NLI"]   # line-start tokens: top-level line, indented line
KEYWORDS = ["def", "return", "for", "in", "range", "if", "print", "=", "+", "-", "*", "(", ")", ":", ",", ">"]
FUNCS = [f"f{i}" for i in range(16)]
VARS = [f"v{i}" for i in range(32)]
ARGS = [f"a{i}" for i in range(8)]
DIGITS = [str(i) for i in range(10)]
VOCAB = SPECIAL + KEYWORDS + FUNCS + VARS + ARGS + DIGITS
TOK = {w: i for i, w in enumerate(VOCAB)}
PAD, NL, NLI = TOK["<pad>"], TOK["NL"], TOK["NLI"]
STOP = (NL, NLI)   # a line ends where the next one starts
OPS = ["+", "-", "*"]
TASKS = ("insertion", "deletion", "edition")


def _body_line(rng, lhs: str, operands: list[str]) -> list[str]:
    """NLI lhs = t op t [op t] (6 or 8 tokens)."""
    def term():
        return operands[rng.integers(len(operands))] if rng.random() < 0.8 else DIGITS[rng.integers(10)]
    expr = [term()]
    for _ in range(int(rng.integers(1, 3))):
        expr += [OPS[rng.integers(3)], term()]
    return ["NLI", lhs, "=", *expr]


def _function(rng, name: str, lhs_pool: list[str]) -> tuple[list[str], list[list[str]]]:
    """Signature line and body lines (2-6 assignments + return) of one header function."""
    args = list(rng.choice(ARGS, size=int(rng.integers(1, 4)), replace=False))
    sig = ["NL", "def", name, "("] + sum(([a, ","] for a in args), [])[:-1] + [")", ":"]
    body, known = [], list(args)
    for _ in range(int(rng.integers(2, 7))):
        lhs = lhs_pool.pop()
        body.append(_body_line(rng, lhs, known))
        known.append(lhs)
    body.append(["NLI", "return", known[-1]])
    return sig, body


def _stmt(rng) -> list[list[str]]:
    """One random top-level statement (1 or 2 lines)."""
    v = lambda: VARS[rng.integers(32)]  # noqa: E731
    u = rng.random()
    if u < 0.5:
        return [["NL", v(), "=", v(), OPS[rng.integers(3)], rng.choice([v(), DIGITS[rng.integers(10)]])]]
    if u < 0.7:
        return [["NL", "print", "(", v(), ")"]]
    if u < 0.85:
        x = v()
        return [["NL", "for", x, "in", "range", "(", DIGITS[rng.integers(1, 10)], ")", ":"],
                ["NLI", "print", "(", x, ")"]]
    return [["NL", "if", v(), ">", DIGITS[rng.integers(10)], ":"], ["NLI", v(), "=", v()]]


@dataclass
class File:
    """A file as lines; `src` = (function index, first body-line index in `lines`), `cut` = body lines copied."""

    lines: list[list[str]]
    n_funcs: int
    body_start: list[int]   # index in `lines` of each header function's first body line
    body_len: list[int]     # body lines incl. return
    src: int                # header function being re-typed
    cut: int                # body lines already copied (the target is body line `cut` of `src`)
    infile: tuple[int, int]  # line range of the in-file statements

    def tokens(self) -> list[str]:
        """The context: every line, then the target line's start token (NLI): the model writes its words next."""
        return [t for ln in self.lines for t in ln] + ["NLI"]

    def target(self) -> list[str]:
        return self.lines[self.body_start[self.src] + self.cut][1:]   # words, without the line-start token


def make_file(rng, min_len: int, max_len: int) -> File:
    """A natural file of min_len..max_len tokens ending inside the re-typed copy."""
    while True:
        pool = list(rng.permutation(VARS))
        names = list(rng.permutation(FUNCS))
        lines, starts, lens, bodies = [], [], [], []
        for _ in range(int(rng.integers(2, 5))):
            sig, body = _function(rng, names.pop(), pool)
            lines.append(sig)
            starts.append(len(lines))
            lens.append(len(body))
            lines += body
            bodies.append((sig, body))
        src = int(rng.integers(len(bodies)))
        sig, body = bodies[src]
        cut = int(rng.integers(1, len(body)))  # copied lines 0..cut-1; target body[cut]
        copy_sig = list(sig)
        if rng.random() < 0.5:
            copy_sig[1] = names.pop()
        copy = [copy_sig] + body[:cut]
        n_head, n_copy = sum(map(len, lines)), sum(map(len, copy))
        goal = int(rng.integers(min_len, max_len + 1)) - n_head - n_copy
        if goal < 30:
            continue
        infile, n = [], 0
        while n < goal:
            st = _stmt(rng)
            if n + sum(map(len, st)) > goal:
                break
            infile += st
            n += sum(map(len, st))
        a = len(lines)
        f = File(lines + infile + copy, len(bodies), starts, lens, src, cut, (a, a + len(infile)))
        if len(f.tokens()) >= min_len:
            return f


def make_train_file(rng, min_len: int, max_len: int) -> list[str]:
    """A training file: header, a few in-file statements, then every header function re-typed in random order (the
    last one possibly cut), so about half of the tokens carry the line-copying signal (a single cut copy, as in the
    evaluation files, gives ~10 %: too little for induction to form in a few hundred steps on 2 CPU cores)."""
    while True:
        f = make_file(rng, min_len, max_len)
        head = f.lines[:f.infile[0]]
        budget = int(rng.integers(min_len, max_len + 1)) - sum(map(len, head))
        funcs = [(f.body_start[k] - 1, f.body_start[k] + f.body_len[k]) for k in range(f.n_funcs)]
        n_inf = int(rng.integers(10, 60))
        copies = []
        for k in rng.permutation(len(funcs)):
            a, b = funcs[k]
            sig = list(head[a])
            if rng.random() < 0.5:
                sig[1] = FUNCS[rng.integers(16)]
            block = [sig] + head[a + 1:b]
            if sum(map(len, copies + block)) > budget - n_inf:
                block = block[:int(rng.integers(2, len(block) + 1))]
                if sum(map(len, copies + block)) > budget - n_inf:
                    break
            copies += block
        if not copies:
            continue
        goal, infile, n = budget - sum(map(len, copies)), [], 0
        while True:
            st = _stmt(rng)
            if n + sum(map(len, st)) > goal:
                break
            infile += st
            n += sum(map(len, st))
        return [t for ln in head + infile + copies for t in ln]


def copy_block(rng, n_tokens: int) -> tuple[list[str], int]:
    """Copy warm-start sequence of 2 * n_tokens words: a block of random body lines (NLI lhs = expression, operands
    from a small pool, so line starts and line ends repeat inside the block, as in real code) of n_tokens/2 to
    n_tokens words, filler lines, then the block again, so the copy distance varies (no fixed-offset shortcut).
    Copying the repeat needs content-based multi-token induction at line boundaries, as next-line prediction does.
    Returns the words and the index where the repeat starts."""
    def lines(k: int, pool: list[str]) -> list[str]:
        out: list[str] = []
        while len(out) < k:
            lhs = VARS[rng.integers(32)]
            out += _body_line(rng, lhs, pool)
            pool.append(lhs)
        return out[:k]
    b = int(rng.integers(n_tokens // 2, n_tokens + 1))
    pool = list(rng.choice(ARGS + VARS, size=6, replace=False))
    block = lines(b, pool)
    filler = lines(2 * n_tokens - 2 * b, list(pool)) if b < n_tokens else []
    return block + filler + block, b + len(filler)


def encode(words: list[str]) -> list[int]:
    return [TOK[w] for w in words]


def decode(ids) -> list[str]:
    return [VOCAB[int(i)] for i in ids]


def _offsets(lines: list[list[str]]) -> list[int]:
    return list(np.cumsum([0] + [len(ln) for ln in lines]))


def _other_line(rng, line: list[str], known: list[str]) -> list[str]:
    """A body line of a different length than `line` (same LHS), for replacements."""
    while True:
        new = _body_line(rng, line[1] if line[1] not in ("return",) else VARS[rng.integers(32)], known)
        if len(new) != len(line):
            return new


def make_instance(rng, task: str, min_len: int, max_len: int) -> dict:
    """Post-edit natural file x', pre-edit file x, edits [(i, j, y)] on x, target line. Token ids as lists."""
    while True:
        f = make_file(rng, min_len, max_len)
        post = f.lines
        tl = f.body_start[f.src] + f.cut          # index of the target line in the source body
        known = [t for t in ARGS + VARS]
        if task == "insertion":
            k = min(int(rng.integers(1, 4)), f.body_len[f.src] - f.cut)
            pre = post[:tl] + post[tl + k:]
            o = _offsets(pre)
            edits = [(o[tl], o[tl], sum(post[tl:tl + k], []))]
        elif task == "deletion":
            k = int(rng.integers(1, 4))
            extra = [_body_line(rng, VARS[rng.integers(32)], known) for _ in range(k)]
            pre = post[:tl] + extra + post[tl:]
            o = _offsets(pre)
            edits = [(o[tl], o[tl + k], [])]
        elif task == "edition":
            others = [ln for fi in range(f.n_funcs) if fi != f.src
                      for ln in range(f.body_start[fi], f.body_start[fi] + f.body_len[fi] - 1)]
            others += [ln for ln in range(*f.infile) if post[ln][0] in VARS]
            if not others:
                continue
            n_other = min(int(rng.integers(1, 3)), len(others))
            spots = sorted([tl, *rng.choice(others, size=n_other, replace=False).tolist()])
            pre = list(post)
            for s in spots:
                if post[s][0] == "NLI" and post[s][1] != "return":
                    pre[s] = _other_line(rng, post[s], known)
                elif post[s][0] == "NLI":  # the return line: replace by an assignment
                    pre[s] = _body_line(rng, VARS[rng.integers(32)], known)
                else:  # top-level statement: one of a different length
                    while len(pre[s]) == len(post[s]):
                        pre[s] = _stmt(rng)[0]
            o = _offsets(pre)
            edits = [(o[s], o[s + 1], post[s]) for s in spots]
        else:
            raise ValueError(f"unknown task {task!r}")
        x, xp = sum(pre, []) + ["NLI"], sum(post, []) + ["NLI"]   # context ends with the target's start token
        if len(x) > max_len + 40 or pre[tl] == post[tl]:
            continue
        inst = {"x": encode(x), "xp": encode(xp), "edits": [(int(i), int(j), encode(y)) for i, j, y in edits],
                "target": encode(f.target()), "stale_target": encode(pre[tl][1:]),
                "needs_context": f.target()[0] != "return"}   # a return line is predictable from the copy alone
        assert apply_edits(inst["x"], inst["edits"]) == inst["xp"]
        return inst


def apply_edits(x: list[int], edits) -> list[int]:
    """x with every span x[i:j] replaced by y (edits sorted, non-overlapping, on x's coordinates)."""
    out, prev = [], 0
    for i, j, y in sorted(edits, key=lambda e: e[0]):
        out += list(x[prev:i]) + list(y)
        prev = j
    return out + list(x[prev:])


def line_str(ids) -> str:
    """Words of a line as a string, line-start tokens and padding dropped (the part EM/ES compare)."""
    return " ".join(t for t in decode(ids) if t not in ("NL", "NLI", "<pad>"))
