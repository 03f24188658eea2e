"""Training through the shared trainer (tasks/common/train.py): the generator stages `pretrain_gen`, `adapt_gen`
(LoRA), `scratch_gen`, and `train_classifier`, the one recipe of every downstream / reference CNN.

Run: `paperflow stage busgen pretrain_gen` (adapt_gen, scratch_gen likewise).
The generator stages read only pool.npz (pretraining) or fewshot.npz (adaptation, scratch): never val, test or the
held-out set (tests/busgen checks it). EMA: `fit` has no EMA hook, so each loss_fn call first folds the weights of
the previous step into the average (and once more after the last step); the EMA weights are what is saved.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from tasks.common.train import Schedule, fit

from . import sim
from .diffusion import Schedule as Noise
from .diffusion import ddpm_loss
from .model import EMA, LoRAUNet, base_state, build_cnn, build_unet
from .params import AdaptParams, NetParams, ScratchParams


def hflip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips (vertical flips would move posterior features above the lesion)."""
    f = torch.rand(x.shape[0], generator=gen) < 0.5
    return torch.where(f[:, None, None, None], x.flip(-1), x)


def noise_schedule(p: NetParams) -> Noise:
    return Noise(p.T, p.beta_start, p.beta_end)


def unet_config(p: NetParams) -> dict:
    return {"ch": [p.ch1, p.ch2, p.ch3], "temb": p.temb, "T": p.T, "beta_start": p.beta_start, "beta_end": p.beta_end,
            "p_drop": p.p_drop}


def _fit_generator(model, x, path, dev, sch: Noise, *, steps, batch, lr, ema_decay, p_drop, seed, flips, io):
    """DDPM epsilon-loss training of `model` (its trainable parameters) on images x with conditions; EMA kept."""
    gen = torch.Generator().manual_seed(seed)
    ema = EMA(model, ema_decay)

    def loss_fn(step: int) -> torch.Tensor:
        if step:
            ema.update(model)
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        xb = hflip(x[idx], gen) if flips else x[idx]
        return ddpm_loss(model, sch, xb, path[idx], dev[idx], p_drop, gen)

    trainable = [q for q in model.parameters() if q.requires_grad]
    hist = fit(model, loss_fn, Schedule(steps, lr, warmup=min(50, steps // 10)), param_groups=[{"params": trainable}],
               progress=io.progress, seed=seed)
    ema.update(model)
    ema.copy_to(model)
    io.log_curves(hist.curves())
    return hist


def _fewshot(io):
    d = io.load_npz("prepare", "fewshot.npz")
    x = torch.from_numpy(sim.to_float(d["x"]))
    y = torch.from_numpy(d["y"])
    return x, y + 1, torch.ones_like(y)            # pathology tokens 1 benign, 2 DCIS (task); device A = 1


def run_pretrain(p: NetParams, io) -> dict[str, float]:
    """Pretraining on the labelled pool: pathology (benign/malignant) + device conditions, CFG dropout."""
    d = io.load_npz("prepare", "pool.npz")
    x = torch.from_numpy(sim.to_float(d["x"]))
    path, dev = torch.from_numpy(d["path"] + 1), torch.from_numpy(d["dev"] + 1)
    torch.manual_seed(io.seed("init"))
    cfg = unet_config(p)
    model = build_unet(cfg)
    hist = _fit_generator(model, x, path, dev, noise_schedule(p), steps=p.steps, batch=p.batch, lr=p.lr,
                          ema_decay=p.ema, p_drop=p.p_drop, seed=io.seed("batches"), flips=True, io=io)
    io.save_model(model, cfg)
    return {"final_loss": hist.tail_mean(), "params": sum(q.numel() for q in model.parameters())}


def run_scratch(p: ScratchParams, io) -> dict[str, float]:
    """The same architecture trained from scratch on the 64 few-shot images only (ablation, P2)."""
    x, path, dev = _fewshot(io)
    torch.manual_seed(io.seed("init"))
    cfg = unet_config(p)
    model = build_unet(cfg)
    hist = _fit_generator(model, x, path, dev, noise_schedule(p), steps=p.steps, batch=p.batch, lr=p.lr,
                          ema_decay=p.ema, p_drop=p.p_drop, seed=io.seed("batches"), flips=True, io=io)
    io.save_model(model, cfg)
    return {"final_loss": hist.tail_mean()}


def run_adapt(p: AdaptParams, io) -> dict[str, float]:
    """LoRA adaptation of the frozen pretrained UNet to benign vs DCIS on the 64 few-shot images (with flips)."""
    base_cfg = io.load_json("pretrain_gen", "model.json")
    base = io.load_model("pretrain_gen", build_unet)
    torch.manual_seed(io.seed("lora-init"))
    model = LoRAUNet(base, p.rank)
    frozen = base_state(model)
    x, path, dev = _fewshot(io)
    sch = Noise(base_cfg["T"], base_cfg["beta_start"], base_cfg["beta_end"])
    hist = _fit_generator(model, x, path, dev, sch, steps=p.steps, batch=p.batch, lr=p.lr, ema_decay=p.ema,
                          p_drop=base_cfg["p_drop"], seed=io.seed("batches"), flips=True, io=io)
    after = base_state(model)
    changed = max(float((after[k] - frozen[k]).abs().max()) for k in frozen)
    n_train = sum(q.numel() for q in model.parameters() if q.requires_grad)
    io.save_model(model, {**base_cfg, "lora_rank": p.rank})
    return {"final_loss": hist.tail_mean(), "base_max_abs_change": changed, "lora_params": n_train}


def train_classifier(x: torch.Tensor, y: torch.Tensor, *, steps: int, batch: int, lr: float, width: int, seed: int,
                     init: torch.nn.Module | None = None, dev: torch.Tensor | None = None, progress=None):
    """The downstream CNN (BCE on the diagnosis logit, flips), the same steps for every N; with `dev` an extra
    3-way device head is trained too (the foundation classifier); `init` starts from a trained CNN's weights."""
    torch.manual_seed(seed)
    heads = {"y": 1, "dev": 3} if dev is not None else {"y": 1}
    model = build_cnn({"width": width, "heads": heads})
    if init is not None:
        model.features.load_state_dict(init.features.state_dict())
        model.heads["y"].load_state_dict(init.heads["y"].state_dict())
    gen = torch.Generator().manual_seed(seed)
    yf = y.float()

    def loss_fn(step: int) -> torch.Tensor:
        idx = torch.randint(0, len(x), (batch,), generator=gen)
        xb = hflip(x[idx], gen)
        h = model.features(xb)
        loss = F.binary_cross_entropy_with_logits(model.heads["y"](h)[:, 0], yf[idx])
        if dev is not None:
            loss = loss + F.cross_entropy(model.heads["dev"](h), dev[idx])
        return loss

    hist = fit(model, loss_fn, Schedule(steps, lr, warmup=min(20, steps // 10)), progress=progress, seed=seed)
    return model, hist


@torch.inference_mode()
def predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Diagnosis logits of uint8 images (n, H, W)."""
    model.eval()
    return model(torch.from_numpy(sim.to_float(x))).numpy().astype(np.float64)


@torch.inference_mode()
def features(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Penultimate (GAP) features of uint8 images: the feature space of the privacy distances."""
    model.eval()
    return model.features(torch.from_numpy(sim.to_float(x))).numpy().astype(np.float64)
