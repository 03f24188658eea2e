"""Tiny FCN + cosine-score head with mask-norm (sheet "Model (design)", "Method to implement: Head").

Body: conv3x3 3->w (32x32) -> conv3x3 w->c stride 2 -> dilated conv3x3 c->c (d = dil1, dil2) -> 1x1 -> D embedding at
16x16, BN + ReLU after each 3x3 conv. Head (as LarvSegHead / Segmenter's MaskTransformer without transformer
layers): patch embeddings and learnable class embeddings E (all K classes) through projections P_patch, P_cls,
both L2-normalised -> cosine scores S (B, H, W, K); logits = mask_norm(S): per-pixel standardisation across classes x a learnable
scalar gamma + scalar beta (as the official `LarvSegHead._mask_norm`, eps 1e-5).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _cbr(cin: int, cout: int, stride: int = 1, dil: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, padding=dil, dilation=dil, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class LarvNet(nn.Module):
    def __init__(self, width: int = 24, channels: int = 32, dim: int = 32, n_cls: int = 16,
                 dilations: tuple[int, int] = (2, 4)):
        super().__init__()
        d1, d2 = dilations
        self.body = nn.Sequential(*_cbr(3, width), *_cbr(width, channels, stride=2), *_cbr(channels, channels, dil=d1),
                                  *_cbr(channels, channels, dil=d2), nn.Conv2d(channels, dim, 1))
        self.p_patch = nn.Linear(dim, dim, bias=False)
        self.p_cls = nn.Linear(dim, dim, bias=False)
        self.cls_emb = nn.Parameter(torch.randn(n_cls, dim) * dim ** -0.5)
        self.gamma = nn.Parameter(torch.ones(()))
        self.beta = nn.Parameter(torch.zeros(()))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, 32, 32) -> L2-normalised patch embeddings (B, 16, 16, D)."""
        f = self.body(x).permute(0, 2, 3, 1)                                   # (B, h, w, D)
        return F.normalize(self.p_patch(f), dim=-1)

    def class_embeddings(self) -> torch.Tensor:
        return F.normalize(self.p_cls(self.cls_emb), dim=-1)                   # (K, D)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> embeddings e (B, h, w, D), cosine scores S (B, h, w, K) in [-1, 1], logits (B, K, h, w)."""
        e = self.embed(x)
        s = e @ self.class_embeddings().T                                      # (B, h, w, K)
        return e, s, (standardise_classes(s) * self.gamma + self.beta).permute(0, 3, 1, 2)


def standardise_classes(s: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """mask_norm before its affine: per-pixel zero mean, unit (biased) std across the class axis (-1)."""
    return (s - s.mean(-1, keepdim=True)) / (s.var(-1, unbiased=False, keepdim=True) + eps).sqrt()


def build(cfg: dict) -> LarvNet:
    return LarvNet(cfg["width"], cfg["channels"], cfg["dim"], cfg["n_cls"], (cfg["dil1"], cfg["dil2"]))


def receptive_field(dilations: tuple[int, int]) -> int:
    """Input pixels seen by one 16x16 embedding: 3x3 conv, 3x3 stride-2 conv, two dilated 3x3 convs at stride 2."""
    return 5 + 2 * 2 * (dilations[0] + dilations[1])


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
