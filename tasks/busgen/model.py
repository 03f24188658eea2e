"""Networks of the BUSGen reproduction: a tiny class-conditional UNet (the official `BUSGen/Model.py` shape, shrunk),
rank-r LoRA on every 3x3 conv with zero-initialised up-projections, an EMA of weights, and the small downstream CNN.

UNet (sheet, Generative model): channels 16/32/32 at 16/8/4 px, one ResBlock per level, self-attention only at 4x4;
sinusoidal time embedding -> MLP, plus pathology and device embeddings, summed into every ResBlock. Index 0 of each
embedding table is the null condition used by classifier-free guidance.
Pathology tokens: 0 null, 1 benign, 2 malignant. Device tokens: 0 null, 1 A, 2 B, 3 C.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

N_PATH, N_DEV = 3, 4


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps t (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1)


def _gn(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int):
        super().__init__()
        self.n1, self.c1 = _gn(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(temb, cout)
        self.n2, self.c2 = _gn(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:   # x (B, cin, H, W), e (B, temb)
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.emb(F.silu(e))[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.norm, self.qkv, self.proj = _gn(c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).unbind(1)  # (B, C, HW) each
        a = torch.softmax(q.transpose(1, 2) @ k / math.sqrt(C), dim=-1)      # (B, HW, HW)
        return x + self.proj((v @ a.transpose(1, 2)).reshape(B, C, H, W))


class UNet(nn.Module):
    """eps_theta(x_t, t, pathology, device) for (B, 1, 16, 16) images."""

    def __init__(self, ch: tuple[int, int, int] = (16, 32, 32), temb: int = 64):
        super().__init__()
        c1, c2, c3 = ch
        self.temb = temb
        self.t_mlp = nn.Sequential(nn.Linear(temb, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.path_emb = nn.Embedding(N_PATH, temb)
        self.dev_emb = nn.Embedding(N_DEV, temb)
        self.inp = nn.Conv2d(1, c1, 3, padding=1)
        self.d1 = ResBlock(c1, c1, temb)                          # 16 px
        self.down1 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)    # -> 8
        self.d2 = ResBlock(c2, c2, temb)
        self.down2 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)    # -> 4
        self.d3 = ResBlock(c3, c3, temb)
        self.attn = Attention(c3)
        self.mid = ResBlock(c3, c3, temb)
        self.u3 = ResBlock(2 * c3, c3, temb)
        self.up2 = nn.Conv2d(c3, c2, 3, padding=1)                # after nearest x2 -> 8
        self.u2 = ResBlock(2 * c2, c2, temb)
        self.up1 = nn.Conv2d(c2, c1, 3, padding=1)                # -> 16
        self.u1 = ResBlock(2 * c1, c1, temb)
        self.out = nn.Sequential(_gn(c1), nn.SiLU(), nn.Conv2d(c1, 1, 3, padding=1))

    def cond(self, t: torch.Tensor, path: torch.Tensor, dev: torch.Tensor,
             path_table: torch.Tensor | None = None) -> torch.Tensor:
        """Time + pathology + device embedding (B, temb); `path_table` replaces the pathology table (LoRA tokens)."""
        pe = F.embedding(path, self.path_emb.weight if path_table is None else path_table)
        return self.t_mlp(timestep_embedding(t, self.temb)) + pe + self.dev_emb(dev)

    def forward(self, x: torch.Tensor, t: torch.Tensor, path: torch.Tensor, dev: torch.Tensor,
                path_table: torch.Tensor | None = None) -> torch.Tensor:
        e = self.cond(t, path, dev, path_table)
        h1 = self.d1(self.inp(x), e)                              # (B, c1, 16, 16)
        h2 = self.d2(self.down1(h1), e)                           # (B, c2, 8, 8)
        h3 = self.attn(self.d3(self.down2(h2), e))                # (B, c3, 4, 4)
        m = self.mid(h3, e)
        u = self.u3(torch.cat([m, h3], 1), e)
        u = self.u2(torch.cat([self.up2(F.interpolate(u, scale_factor=2.0)), h2], 1), e)
        u = self.u1(torch.cat([self.up1(F.interpolate(u, scale_factor=2.0)), h1], 1), e)
        return self.out(u)


class LoRAConv2d(nn.Module):
    """y = base(x) + up(down(x)): down is a k x k conv to r channels, up a 1x1 conv back, zero-initialised, so the
    adapted conv equals the frozen base conv at init."""

    def __init__(self, base: nn.Conv2d, rank: int):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.down = nn.Conv2d(base.in_channels, rank, base.kernel_size, base.stride, base.padding, bias=False)
        self.up = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.up(self.down(x))


class LoRAUNet(nn.Module):
    """A frozen UNet with LoRA on every 3x3 conv and two new task tokens {benign, DCIS} initialised as copies of the
    base {benign, malignant} pathology embeddings. Task pathology indices: 0 null, 1 benign, 2 DCIS."""

    def __init__(self, base: UNet, rank: int):
        super().__init__()
        for p in base.parameters():
            p.requires_grad_(False)
        self.unet = base
        self.task_tokens = nn.Parameter(base.path_emb.weight[1:3].detach().clone())
        _wrap_convs(base, rank)

    def forward(self, x, t, path, dev):
        table = torch.cat([self.unet.path_emb.weight[:1], self.task_tokens], 0)
        return self.unet(x, t, path, dev, path_table=table)


def _wrap_convs(module: nn.Module, rank: int) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and child.kernel_size == (3, 3):
            setattr(module, name, LoRAConv2d(child, rank))
        else:
            _wrap_convs(child, rank)


def base_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The frozen (non-trainable) tensors of a model, by name (to check they are bit-identical after adaptation)."""
    return {k: p.detach().clone() for k, p in model.named_parameters() if not p.requires_grad}


class EMA:
    """Exponential moving average of the trainable parameters; decay warms up as min(decay, (1 + k) / (10 + k))."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay, self.k = decay, 0
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.k) / (10 + self.k))
        self.k += 1
        for n, p in model.named_parameters():
            if n in self.shadow:
                self.shadow[n].mul_(d).add_(p.detach(), alpha=1 - d)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        for n, p in model.named_parameters():
            if n in self.shadow:
                p.copy_(self.shadow[n])


def build_unet(cfg: dict) -> nn.Module:
    """UNet (cfg: ch, temb) or, with cfg['lora_rank'] > 0, the LoRA-wrapped UNet."""
    net = UNet(tuple(cfg["ch"]), cfg["temb"])
    return LoRAUNet(net, cfg["lora_rank"]) if cfg.get("lora_rank", 0) > 0 else net


class Standardize(nn.Module):
    """Per-image standardisation (zero mean, unit std): removes a device's overall gain and contrast, not its
    speckle size, gamma or blur (design choice of this reproduction, chosen in the probe; README)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - m) / (x.std(dim=(1, 2, 3), keepdim=True) + 1e-3)


class CNN(nn.Module):
    """The downstream classifier: per-image standardisation, 3 convs, global average pooling, FC heads (sheet,
    Downstream classifiers). heads: {name: n_outputs}; 'y' is the diagnosis logit (1 output)."""

    def __init__(self, width: int = 16, heads: dict[str, int] | None = None):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            Standardize(), nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())                # (B, 4w)
        self.heads = nn.ModuleDict({k: nn.Linear(4 * w, n) for k, n in (heads or {"y": 1}).items()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:           # x (B, 1, H, W) -> diagnosis logit (B,)
        return self.heads["y"](self.features(x))[:, 0]


def build_cnn(cfg: dict) -> nn.Module:
    return CNN(cfg["width"], cfg.get("heads"))
