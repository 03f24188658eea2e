"""Stage `downstream` (items `task`, `scaling`): the body is `evaluate.run` (the arms, their training and logits).
Run: `paperflow stage busgen downstream --item task`."""
from .evaluate import run

__all__ = ["run"]
