"""Both cores (issue 10): the flows' machine lock (a timed stage runs alone), the jobs setting, the execution log
and the bench's ratios computed from it."""
from __future__ import annotations

import json
import threading
import time

import pytest

from tasks.common import bench, layout, runlog
from tasks.common.errors import UserError


def test_timed_stage_never_shares_the_machine():
    from flows.pipeline import _Machine

    m, lock = _Machine(), threading.Lock()
    state = {"shared": 0, "exclusive": 0, "violations": 0, "order": []}

    def work(name: str, exclusive: bool, delay: float) -> None:
        time.sleep(delay)
        with m.use(exclusive):
            with lock:
                key = "exclusive" if exclusive else "shared"
                state[key] += 1
                state["order"].append(name)
                if state["exclusive"] > 1 or (state["exclusive"] and state["shared"]):
                    state["violations"] += 1
            time.sleep(0.05)
            with lock:
                state[key] -= 1

    threads = [threading.Thread(target=work, args=(f"s{i}", False, 0.01 * i)) for i in range(4)]
    threads.insert(2, threading.Thread(target=work, args=("bench", True, 0.015)))
    threads.append(threading.Thread(target=work, args=("late", False, 0.03)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert state["violations"] == 0 and len(state["order"]) == 6
    # writer preference: a shared stage arriving after the timed one waited for it
    assert state["order"].index("bench") < state["order"].index("late")


def test_two_shared_stages_overlap():
    from flows.pipeline import _Machine

    m, inside, peak = _Machine(), [0], [0]
    lock = threading.Lock()

    def work() -> None:
        with m.use(False):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.1)
            with lock:
                inside[0] -= 1

    ts = [threading.Thread(target=work) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(5)
    assert peak[0] == 2


@pytest.mark.parametrize("value, ok", [("2", True), ("1", True), ("0", False), ("-1", False), ("two", False)])
def test_jobs_setting(monkeypatch, value, ok):
    monkeypatch.setenv("PAPERFLOW_JOBS", value)
    if ok:
        assert runlog.jobs() == int(value)
    else:
        with pytest.raises(UserError, match="PAPERFLOW_JOBS"):
            runlog.jobs()


def test_jobs_defaults_to_usable_cores(monkeypatch):
    import os

    monkeypatch.delenv("PAPERFLOW_JOBS", raising=False)
    assert runlog.jobs() == len(os.sched_getaffinity(0))


def test_execution_ratios_from_the_run_log(tmp_path, monkeypatch):
    """Two stages of 6 s and 4 s bodies computed side by side in a 6.5 s execution: body sum / wall = 10 / 6.5;
    fixed cost = dvc wall - body per stage. A stage not computed in it (older timing file) is left out."""
    root = tmp_path
    for paper in ("mdm",):
        for stage, body in (("prepare", 6.0), ("sweep", 4.0), ("report", 1.0)):
            f = layout.timing_file(root, paper, stage)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps({"wall_time_s": body}))
    old = layout.timing_file(root, "mdm", "report")
    t_end = time.time()
    import os

    os.utime(old, (t_end - 100, t_end - 100))
    runlog.record(root, "flow-x", event="stage", stage="mdm_prepare", state="ran", wall_s=7.0)
    runlog.record(root, "flow-x", event="stage", stage="mdm_sweep", state="ran", wall_s=5.0)
    runlog.record(root, "flow-x", event="stage", stage="mdm_report", state="skipped", wall_s=1.1)
    runlog.record(root, "flow-x", event="end", via="prefect", target="mdm", jobs=2, status="FINISHED", wall_s=6.5)
    ex = bench.execution(root)
    assert ex["stages_computed"] == 2 and ex["stage_body_sum_s"] == 10.0
    assert ex["body_sum_vs_wall"] == pytest.approx(10 / 6.5, abs=1e-3)
    assert ex["fixed_cost_sum_s"] == 2.0 and ex["fixed_cost_vs_body"] == 0.2
    assert "stage-body sum / wall (mdm, via prefect, 2 jobs)" in bench.table(
        {"execution": ex, "fixed_cost": {"noop_stage_s": 1, "tracking_import_s": 2}, "trainer": {}, "pie": {}})


def test_no_execution_logged_yet(tmp_path):
    assert bench.execution(tmp_path) is None
    runlog.record(tmp_path, "cli-1", event="stage", stage="x", state="ran", wall_s=1.0)   # never ended
    assert runlog.latest(tmp_path) is None


def test_trainer_matches_a_hand_loop_in_work():
    """The bench compares like with like: from the same init, `fit` and the hand loop end on the same weights."""
    import torch

    from tasks.common.train import Schedule

    sch = Schedule(steps=4, lr=1e-3, warmup=2)
    (m1, x), (m2, _) = bench._bench_model(), bench._bench_model()
    bench._train_fit(m1, x, sch)
    bench._train_hand(m2, x, sch)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    r = bench.trainer_vs_hand(threads=1, steps=3, rounds=1)
    assert r["fit_steps_per_s"] > 0 and r["hand_steps_per_s"] > 0
    assert bench.step_flops() > 1e6


def test_timed_stages_exist():
    from flows.pipeline import TIMED
    from tasks.common.registry import all_papers

    names = {n for p in all_papers() for s in p.stages for n in p.dvc_names(s)}
    assert TIMED and TIMED <= names
