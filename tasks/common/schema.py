"""The base class of every stage's params (a leaf module: paper params import only this, so framework edits
elsewhere do not enter every stage's derived code dependencies)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StageParams(BaseModel):
    """Base of every stage's params: extra keys are errors, values are type-checked strictly (no bool for an int,
    no "3" for 3, no float for an int; an int is accepted for a float)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def check_heads(d: int, heads: int, d_name: str = "d_model", heads_name: str = "heads") -> None:
    """Cross-field constraint of every attention model: the width splits into equal heads."""
    if d % heads:
        raise ValueError(f"{d_name}={d} is not divisible by {heads_name}={heads}")
