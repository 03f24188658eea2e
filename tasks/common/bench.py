"""`paperflow bench`: ratios that do not depend on how fast the machine is, measured in one run on this machine.

- suite / paper: wall time of the newest recorded execution (`.paperflow/runs/`) vs the sum of the stage bodies
  that ran in it (> 1 means stages ran side by side), and per stage the fixed cost (`dvc repro -s` wall minus the
  body's wall, Prefect executions only) vs the body;
- the fixed cost of a no-op, torch-free stage (`dvc repro -s -f <paper>_check`, median of 3; in a fresh process
  and under a warm stage server, `tasks/common/warm.py`) and of opening an MLflow stage run (importing mlflow +
  the store), the floor every tracked stage pays in a fresh process;
- the shared trainer (`tasks.common.train.fit`) vs a minimal hand-written loop on the same model and batch
  (steps/s ratio; >= 0.95 means the framework adds nothing), and the model's achieved FLOP/s (counted by
  torch's FlopCounterMode, forward + backward) as a fraction of this machine's fp32 matmul peak at the same
  thread count, measured here;
- PIE's update cost vs full recomputation, read from the PIE benchmark stage's metrics.

Writes reports/bench.json and prints a table. Nothing here is a timed test.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import layout, runlog


def matmul_peak(threads: int, n: int = 1024, reps: int = 8) -> float:
    """Best fp32 GFLOP/s of an n x n matmul at `threads` torch threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def _bench_model():
    import torch

    from .nn import Transformer

    torch.manual_seed(0)
    model = Transformer(vocab=64, d=128, n_layers=2, n_heads=4, d_ff=512, max_len=64, causal=True)
    x = torch.randint(0, 64, (32, 64))
    return model, x


def _loss(model, x):
    import torch.nn.functional as F

    logits = model(x[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))


def step_flops() -> float:
    """FLOPs of one training step (forward + backward) of the bench model, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    model, x = _bench_model()
    with FlopCounterMode(display=False) as fc:
        _loss(model, x).backward()
    return float(fc.get_total_flops())


def _train_fit(model, x, sch) -> None:
    from .train import fit

    fit(model, lambda s: _loss(model, x), sch)


def _train_hand(model, x, sch) -> None:
    """The minimal loop doing the same work as `fit` (the schedule's AdamW and LR, clip 1.0), nothing else."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=sch.lr, betas=sch.betas, weight_decay=sch.weight_decay)
    lr = torch.optim.lr_scheduler.LambdaLR(opt, sch.factor)
    model.train()
    for _ in range(sch.steps):
        loss = _loss(model, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lr.step()


def trainer_vs_hand(threads: int, steps: int = 30, rounds: int = 3) -> dict[str, float]:
    """Steps/s of `fit` and of the hand loop on the same model and batch, best of `rounds`, interleaved."""
    import torch

    from .train import Schedule

    torch.set_num_threads(threads)
    sch = Schedule(steps=steps, lr=1e-3, warmup=5)

    def rate(train) -> float:
        model, x = _bench_model()
        t0 = time.perf_counter()
        train(model, x, sch)
        return steps / (time.perf_counter() - t0)

    fw, hd = [], []
    for _ in range(rounds):          # interleaved, so drift in machine load hits both alike
        fw.append(rate(_train_fit))
        hd.append(rate(_train_hand))
    return {"fit_steps_per_s": max(fw), "hand_steps_per_s": max(hd), "fit_vs_hand": max(fw) / max(hd)}


def noop_stage_s(root: Path, paper: str, reps: int = 3, warm: bool = False) -> float:
    """Median wall of `dvc repro -s -f pipelines/<paper>/dvc.yaml:<paper>_check`: dvc start to lock update for a stage
    that needs no torch; `warm`: under a warm stage server, as `paperflow run` runs it (after one call that waits
    for the server's imports)."""
    from contextlib import nullcontext

    from .dvcgen import check_name, target
    from .warm import serving

    cmd = ["dvc", "repro", "-s", "-f", target(check_name(paper))]
    walls = []
    with serving(root) if warm else nullcontext():
        if warm:
            subprocess.run(cmd, cwd=root, capture_output=True, check=True)
        for _ in range(reps):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=root, capture_output=True, check=True)
            walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def tracking_floor_s() -> float:
    """Wall of a fresh process that imports mlflow and the runner (what every tracked stage pays before work)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import mlflow, tasks.common.runner, tasks.common.tracking"], check=True)
    return time.perf_counter() - t0


def execution(root: Path) -> dict | None:
    """Parallelism and fixed costs of the newest recorded execution."""
    found = runlog.latest(root)
    if found is None:
        return None
    path, events = found
    end = [e for e in events if e.get("event") == "end"][-1]
    ran = {e["stage"]: e["wall_s"] for e in events if e.get("event") == "stage" and e.get("state") == "ran"}
    bodies, overheads = {}, {}
    from .registry import all_papers

    for p in all_papers():
        for s in p.stages:
            for it, name in zip(s.items or (None,), p.dvc_names(s)):
                f = layout.timing_file(root, p.slug, s.name, it)
                if not f.exists() or f.stat().st_mtime < end["t"] - end["wall_s"]:
                    continue                       # not computed in this execution
                bodies[name] = json.loads(f.read_text())["wall_time_s"]
                if name in ran:
                    overheads[name] = ran[name] - bodies[name]
    body = sum(bodies.values())
    out = {"log": path.name, "via": end["via"], "target": end["target"], "jobs": end["jobs"], "wall_s": end["wall_s"],
           "stages_computed": len(bodies), "stage_body_sum_s": round(body, 1),
           "body_sum_vs_wall": round(body / end["wall_s"], 3) if end["wall_s"] else None}
    if overheads:
        ov = sum(overheads.values())
        out.update({"fixed_cost_sum_s": round(ov, 1), "fixed_cost_median_s": round(statistics.median(overheads.values()), 2),
                    "fixed_cost_vs_body": round(ov / max(body, 1e-9), 3)})
    return out


def pie_ratios(root: Path) -> dict[str, float]:
    f = layout.metrics_file(root, "pie", "benchmark")
    if not f.exists():
        return {}
    m = json.loads(f.read_text())
    return {k: round(v, 4) for k, v in sorted(m.items()) if k.startswith(("ms_ratio_pie_full_n", "flops_ratio_pie_full_n"))}


def run(root: Path, paper: str = "mdm", threads: tuple[int, ...] = (1, 2)) -> dict:
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    flops = step_flops()
    res: dict = {"machine": {"cores": runlog.jobs()}, "trainer": {}, "execution": execution(root),
                 "fixed_cost": {"noop_stage_s": round(noop_stage_s(root, paper), 2),
                                "noop_stage_warm_s": round(noop_stage_s(root, paper, warm=True), 2),
                                "tracking_import_s": round(tracking_floor_s(), 2)},
                 "pie": pie_ratios(root)}
    for t in threads:
        peak = matmul_peak(t)
        tv = trainer_vs_hand(t)
        res["machine"][f"matmul_peak_gflops_t{t}"] = round(peak, 1)
        res["trainer"][f"t{t}"] = {**{k: round(v, 3) for k, v in tv.items()},
                                   "achieved_gflops": round(flops * tv["fit_steps_per_s"] / 1e9, 2),
                                   "fraction_of_peak": round(flops * tv["fit_steps_per_s"] / 1e9 / peak, 3)}
    res["trainer"]["step_gflop"] = round(flops / 1e9, 4)
    return res


def table(res: dict) -> str:
    rows = [("ratio", "value")]
    ex = res.get("execution")
    if ex:
        rows.append((f"stage-body sum / wall ({ex['target']}, via {ex['via']}, {ex['jobs']} jobs)",
                     f"{ex['body_sum_vs_wall']}  ({ex['stage_body_sum_s']} s / {ex['wall_s']:.1f} s)"))
        if "fixed_cost_vs_body" in ex:
            rows.append(("per-stage fixed cost / body (sum)", f"{ex['fixed_cost_vs_body']}  "
                         f"(median {ex['fixed_cost_median_s']} s per stage)"))
    else:
        rows.append(("stage-body sum / wall", "no recorded execution: run `paperflow run P` first"))
    fc = res["fixed_cost"]
    rows.append(("no-op torch-free stage under dvc (s)", f"{fc['noop_stage_s']}"))
    if "noop_stage_warm_s" in fc:
        rows.append(("  the same under a warm stage server (s)", f"{fc['noop_stage_warm_s']}"))
    rows.append(("mlflow + runner import floor (s)", f"{fc['tracking_import_s']}"))
    for t, v in res["trainer"].items():
        if t.startswith("t"):
            rows.append((f"fit / hand loop steps/s ({t[1:]} thread)", f"{v['fit_vs_hand']:.3f}"))
            rows.append((f"bench model FLOP/s / matmul peak ({t[1:]} thread)", f"{v['fraction_of_peak']:.3f}"))
    for k, v in res["pie"].items():
        if k.startswith("ms_ratio"):
            rows.append((f"PIE / full update wall, n'={k.rsplit('_n', 1)[1]}", f"{v}"))
    w = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{w}}  {b}" for a, b in rows)
