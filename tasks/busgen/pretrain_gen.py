"""Stage `pretrain_gen`: pretraining of the conditional DDPM on the pool. The body is `train.run_pretrain` (train.py holds the three generator stages and the
classifier recipe side by side). Run: `paperflow stage busgen pretrain_gen`."""
from .train import run_pretrain as run

__all__ = ["run"]
