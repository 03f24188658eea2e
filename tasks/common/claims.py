"""Claims -> verdicts -> claims.json + report.md (the report stage of every paper uses this).

A verdict is PASS (every sub-point of the pre-registered criterion holds), FAIL (computed and not met) or
INCONCLUSIVE (a validity gate failed, or a needed quantity could not be measured). Each paper's judges live in
`tasks/<slug>/criteria.py`: pure functions from measured numbers to a `Verdict`, fixed before the numbers are seen
and unit-tested on every branch. A verdict carries the validity `gates` it depends on (training floors, sanity
checks) and, when its criterion was amended, `amended_from` with the verdict the original criterion gives on the
same run; the report shows both.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from .io import StageIO
    from .registry import Paper

Outcome = Literal["PASS", "FAIL", "INCONCLUSIVE"]
PASS, FAIL, INCONCLUSIVE = get_args(Outcome)


@dataclass(frozen=True)
class Gate:
    """A validity check a verdict depends on: `passed` is computed from `measured` against `threshold`."""

    name: str
    passed: bool
    measured: Any
    threshold: Any


def at_least(name: str, measured: float | None, threshold: float) -> Gate:
    """Gate `measured >= threshold` (a missing or NaN measurement fails)."""
    ok = measured is not None and measured == measured and measured >= threshold
    return Gate(name, bool(ok), measured, f">= {threshold:g}")


def at_most(name: str, measured: float | None, threshold: float) -> Gate:
    """Gate `measured <= threshold` (a missing or NaN measurement fails)."""
    ok = measured is not None and measured == measured and measured <= threshold
    return Gate(name, bool(ok), measured, f"<= {threshold:g}")


@dataclass(frozen=True)
class Amendment:
    """The pre-registered criterion a verdict replaced, the verdict it gives on the same run, and why it changed."""

    criterion: str
    verdict: Outcome
    reason: str


@dataclass
class Verdict:
    id: str
    verdict: Outcome
    reason: str
    measured: dict[str, Any] = field(default_factory=dict)   # name -> number or {value, lo, hi}
    checks: dict[str, bool] = field(default_factory=dict)    # sub-point -> held?
    gates: list[Gate] = field(default_factory=list)
    amended_from: Amendment | None = None

    def __post_init__(self) -> None:
        if self.verdict not in (PASS, FAIL, INCONCLUSIVE):
            raise ValueError(f"verdict must be PASS/FAIL/INCONCLUSIVE, got {self.verdict!r}")
        self.checks = {k: bool(v) for k, v in self.checks.items()}

    @property
    def gates_pass(self) -> bool:
        return all(g.passed for g in self.gates)


def judge(cid: str, checks: dict[str, bool], measured: dict[str, Any], gates: list[Gate] | tuple = (),
          unmeasurable: str | None = None) -> Verdict:
    """PASS iff every sub-point holds. INCONCLUSIVE if a gate failed or `unmeasurable` names a quantity that could
    not be measured (then the sub-points are reported but not judged); FAIL otherwise."""
    gates = list(gates)
    failed_gates = [g.name for g in gates if not g.passed]
    if failed_gates:
        return Verdict(cid, INCONCLUSIVE, "gate failed: " + ", ".join(failed_gates), measured, checks, gates)
    if unmeasurable:
        return Verdict(cid, INCONCLUSIVE, f"not measurable: {unmeasurable}", measured, checks, gates)
    failed = [k for k, ok in checks.items() if not ok]
    if not failed:
        return Verdict(cid, PASS, "all sub-points hold: " + ", ".join(checks), measured, checks, gates)
    return Verdict(cid, FAIL, "not met: " + ", ".join(failed), measured, checks, gates)


def inconclusive(cid: str, reason: str, measured: dict[str, Any] | None = None,
                 gates: list[Gate] | tuple = ()) -> Verdict:
    """A claim that could not be judged (an arm missing, a quantity outside the grid, descriptive by design)."""
    return Verdict(cid, INCONCLUSIVE, reason, measured or {}, {}, list(gates))


def amend(new: Verdict, original: Verdict, criterion: str, reason: str) -> Verdict:
    """`new` judged by the amended criterion; records the original `criterion` and the verdict it gives."""
    new.amended_from = Amendment(criterion, original.verdict, reason)
    return new


def ci(value: float, lo: float, hi: float) -> dict[str, float]:
    return {"value": float(value), "lo": float(lo), "hi": float(hi)}


def fmt(v: Any) -> str:
    """A measured value for a table: 0.123, or 0.123 [0.1, 0.15] for {value, lo, hi}; null (non-finite) is '-'."""
    if isinstance(v, dict) and "value" in v:
        return f"{fmt(v['value'])} [{fmt(v.get('lo'))}, {fmt(v.get('hi'))}]"
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _gate_cell(gates: list[dict]) -> str:
    if not gates:
        return "-"
    return "<br>".join(f"{'✓' if g['passed'] else '✗'} {g['name']}: {fmt(g['measured'])} ({g['threshold']})"
                       for g in gates)


def report(io: "StageIO", paper: "Paper", verdicts: list[Verdict], sections: list[str],
           profile: str) -> dict[str, float]:
    """Write claims.json and report.md into the report stage's output; return verdict counts as metrics."""
    by_id = {v.id: v for v in verdicts}
    missing = [c.id for c in paper.claims if c.id not in by_id]
    if missing:
        raise ValueError(f"report of {paper.slug} gives no verdict for {missing}")
    claims = [{"id": c.id, "statement": c.statement, "criterion": c.criterion, **asdict(by_id[c.id])}
              for c in paper.claims]
    from .io import save_json_atomic

    save_json_atomic(io.out / "claims.json", {"paper": paper.slug, "profile": profile, "claims": claims})
    lines = [f"# {paper.title}", "", f"{paper.citation} (arXiv {paper.arxiv}). Profile: `{profile}`.", "",
             "| claim | verdict | gates | measured | reason |", "|---|---|---|---|---|"]
    for c in claims:
        meas = "; ".join(f"{k} = {fmt(v)}" for k, v in c["measured"].items())
        lines.append(f"| {c['id']} | **{c['verdict']}** | {_gate_cell(c['gates'])} | {meas} | {c['reason']} |")
    amended = [c for c in claims if c["amended_from"]]
    if amended:
        lines += ["", "## Amended criteria", "", "| claim | verdict (amended) | original criterion | verdict (original) "
                  "| why amended |", "|---|---|---|---|---|"]
        lines += [f"| {c['id']} | {c['verdict']} | {c['amended_from']['criterion']} | {c['amended_from']['verdict']} | "
                  f"{c['amended_from']['reason']} |" for c in amended]
    lines += ["", "## Claims and pre-registered criteria", ""]
    lines += [f"- **{c['id']}**: {c['statement']} *Criterion:* {c['criterion']}" for c in claims]
    lines += ["", *sections, "", f"_Generated by `paperflow stage {paper.slug} report` (profile `{profile}`); "
              "the commit and run are in MLflow and dvc.lock._"]
    (io.out / "report.md").write_text("\n".join(lines) + "\n")
    counts = {k: sum(v.verdict == k for v in verdicts) for k in (PASS, FAIL, INCONCLUSIVE)}
    return {"claims_pass": counts[PASS], "claims_fail": counts[FAIL], "claims_inconclusive": counts[INCONCLUSIVE],
            "claims_gates_pass": sum(v.gates_pass for v in verdicts)}
