"""Issue 12's fp32 reliability sweep (not a pipeline stage): train one recipe x seed with the pipeline's own
`train.train_one` and score it on a held-out validation set that is not the pipeline's test sets.

Validation items: 500 per k from `np.random.default_rng(777_000 + k)` (the `prepare` stage draws its test sets from
io.seed("test", k)). Seeds of the sweep: init 1000 + i, data 2000 + i (not the pipeline's). Prints and writes one
JSON per run: exact match per k, error rate per answer digit, the training loss in windows of 250 steps, ms/step.

    OMP_NUM_THREADS=1 python -m tasks.precision.probe NAME '{"grad_clip": 1.0, "steps": 5000}' 1000 2000 OUT_DIR

The JSON's first argument overrides TrainParams fields (plus n_bits, ks, max_len, arm); everything else is the
default profile's. The runs of issue 12's sweep are in reports/precision/probes/ (README: "Reliability sweep").
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from .data import Spec, encode, sample_ops
from .model import for_arm
from .params import TrainParams
from .train import model_size, train_one

VAL_SEED, VAL_ITEMS = 777_000, 500


@torch.inference_mode()
def validate(model: torch.nn.Module, spec: Spec) -> tuple[dict[int, float], dict[int, list[float]]]:
    """Exact match per k and error rate per answer digit on the validation items."""
    model.eval()
    acc, digit_err, A = {}, {}, spec.ans_bits
    for k in spec.ks:
        s = torch.from_numpy(encode(sample_ops(np.random.default_rng(VAL_SEED + k), k, VAL_ITEMS, spec.n_bits), spec))
        ok = model(s[:, :-1])[:, -A:].argmax(-1) == s[:, -A:]                 # (N, A): teacher-forced greedy
        acc[k] = float(ok.all(-1).float().mean())
        digit_err[k] = [round(float(1 - x), 3) for x in ok.float().mean(0)]
    return acc, digit_err


def main(argv: list[str]) -> None:
    name, over, init_seed, data_seed, out_dir = argv[0], json.loads(argv[1]), int(argv[2]), int(argv[3]), Path(argv[4])
    torch.set_num_threads(1)
    arm = over.pop("arm", "fp32")
    spec = Spec(over.pop("n_bits", 2), tuple(over.pop("ks", [2, 3, 4, 6, 8, 10, 12])), over.pop("max_len", 48))
    spec.check()
    p = TrainParams(**over)
    r = train_one(arm, p, spec, init_seed, data_seed)
    acc, digit_err = validate(for_arm(arm, r["state"], **model_size(p, spec)), spec)
    loss = r["loss"]
    out = {"name": name, "over": over, "arm": arm, "n_bits": spec.n_bits, "ks": spec.ks, "init": init_seed,
           "data": data_seed, "acc": acc, "digit_err": digit_err,
           "loss_curve": [round(float(loss[i:i + 250].mean()), 4) for i in range(0, len(loss), 250)],
           "ms_step": 1000 * r["wall"] / p.steps, "load": os.getloadavg()[0]}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}_i{init_seed}.json").write_text(json.dumps(out))
    print(name, init_seed, " ".join(f"k={k}: {a:.3f}" for k, a in acc.items()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
