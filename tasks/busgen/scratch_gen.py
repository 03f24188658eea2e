"""Stage `scratch_gen`: the same UNet from scratch on the few-shot set (P2 ablation). The body is `train.run_scratch` (train.py holds the three generator stages and the
classifier recipe side by side). Run: `paperflow stage busgen scratch_gen`."""
from .train import run_scratch as run

__all__ = ["run"]
