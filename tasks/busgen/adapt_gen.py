"""Stage `adapt_gen`: LoRA adaptation of the frozen pretrained UNet on the few-shot set. The body is `train.run_adapt` (train.py holds the three generator stages and the
classifier recipe side by side). Run: `paperflow stage busgen adapt_gen`."""
from .train import run_adapt as run

__all__ = ["run"]
