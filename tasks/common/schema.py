"""The base class of every stage's params (a leaf module: paper params import only this, so framework edits
elsewhere do not enter every stage's derived code dependencies)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StageParams(BaseModel):
    """Base of every stage's params: extra keys are errors, values are type-checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
