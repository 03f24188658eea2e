"""Data access for the `simulate` output (this paper's prepare step is the `simulate` stage, simulate.py): one
split of data.npz as tensors, with a clear error when the artifact lacks a key.
"""
from __future__ import annotations

import torch

from tasks.common.errors import UserError


def load_split(io, split: str) -> dict[str, torch.Tensor]:
    d = io.load_npz("simulate", "data.npz")
    keys = ("R0", "RT", "Z") + (("frames",) if split == "train" else ())
    try:
        out = {k: torch.as_tensor(d[f"{split}_{k}"]) for k in keys}
    except KeyError as e:
        raise UserError(f"gdb: simulate output data.npz lacks {e}; re-run `paperflow stage gdb simulate`") from None
    return out
