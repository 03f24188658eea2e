"""Stage `prepare`: the two datasets of the OPZO pipeline, with fixed stratified splits.

D1 "static": scikit-learn's 8x8 digits (read from data/digits.csv, never from sklearn directly), pixels scaled to
[0, 1]; the network sees the same analog frame at every time step (direct encoding, as in OTTT).

D2 "N-Digits": a synthetic analogue of N-MNIST (sheet, Data). Each digit is upsampled bilinearly to `digit_px`,
centred on a `canvas_px` canvas and moved along three straight saccade segments (a closed triangle, as the
N-MNIST sensor does) sampled at T+1 positions; an ON (OFF) event fires where the log intensity rises (falls) by
more than `threshold` between consecutive frames; every (channel, pixel, frame) also fires with probability
`background` (Bernoulli stand-in for 1 % Poisson background). Output: (N, T, 2*canvas_px^2) binary events.

Run: `paperflow stage opzo prepare`.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .params import PrepareParams


def load_digits_csv(path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 64) pixels in 0..16 and (N,) labels from the exported CSV."""
    raw = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64)
    return raw[:, :64].astype(np.float32), raw[:, 64]


def stratified_split(y: np.ndarray, n_val: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """Indices of a stratified train / val / test split (sizes exact, proportions per class as close as possible)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    rest, test = train_test_split(idx, test_size=n_test, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=n_val, stratify=y[rest], random_state=seed + 1)
    return {"train": np.sort(train), "val": np.sort(val), "test": np.sort(test)}


def saccade_offsets(T: int, amp: float) -> np.ndarray:
    """(T+1, 2) pixel offsets (dx, dy) along the closed triangle A -> B -> C -> A, equally spaced in path length."""
    verts = np.array([[-amp, amp], [amp, amp], [0.0, -amp], [-amp, amp]], dtype=np.float64)
    seg = np.linalg.norm(np.diff(verts, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.linspace(0.0, cum[-1], T + 1)
    out = np.empty((T + 1, 2))
    for d in range(2):
        out[:, d] = np.interp(s, cum, verts[:, d])
    return out


def render_frames(img8: np.ndarray, digit_px: int, canvas_px: int, T: int) -> np.ndarray:
    """(N, T+1, canvas, canvas) intensities in [0, 1]: each digit translated along the saccade path (bilinear)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(img8.reshape(-1, 1, 8, 8) / 16.0).float()
    up = F.interpolate(x, size=(digit_px, digit_px), mode="bilinear", align_corners=False).clamp(0, 1)
    pad = (canvas_px - digit_px) // 2
    canvas = F.pad(up, (pad, canvas_px - digit_px - pad, pad, canvas_px - digit_px - pad))   # (N, 1, C, C)
    offs = saccade_offsets(T, amp=float(pad))
    frames = []
    for dx, dy in offs:   # T+1 affine translations; each is vectorised over all N digits
        theta = torch.tensor([[1.0, 0.0, -2.0 * dx / canvas_px], [0.0, 1.0, -2.0 * dy / canvas_px]]).float()
        grid = F.affine_grid(theta.expand(len(x), 2, 3), list(canvas.shape), align_corners=False)
        frames.append(F.grid_sample(canvas, grid, mode="bilinear", padding_mode="zeros", align_corners=False))
    return torch.cat(frames, dim=1).numpy()   # (N, T+1, C, C)


def events_from_frames(frames: np.ndarray, threshold: float, eps: float, background: float,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Binary events (N, T, 2, C, C) from log-intensity changes, plus 1 % background; also the signal-only events."""
    logi = np.log(frames + eps)
    d = np.diff(logi, axis=1)                                   # (N, T, C, C)
    sig = np.stack([d > threshold, d < -threshold], axis=2)     # (N, T, 2, C, C): ON, OFF
    bg = rng.random(sig.shape) < background
    return (sig | bg).astype(np.uint8), sig


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def run(p: PrepareParams, io) -> dict[str, float]:
    pix, y = load_digits_csv(io.data / "digits.csv")
    split = stratified_split(y, p.n_val, p.n_test, seed=io.seed("split") % (2**31))
    x1 = (pix / 16.0).astype(np.float32)                                        # (N, 64) in [0, 1]

    frames = render_frames(pix, p.digit_px, p.canvas_px, p.T_events)
    rng = np.random.default_rng(io.seed("ndigits-background"))
    ev, sig = events_from_frames(frames, p.threshold, p.log_eps, p.background, rng)
    x2 = ev.reshape(len(y), p.T_events, -1)                                     # (N, T, 2*C*C)

    io.save_npz("data.npz", d1_x=x1, d2_x=x2, y=y.astype(np.int64), **{f"idx_{k}": v for k, v in split.items()})
    h = digest(x1, x2, y, *split.values())
    io.save_json("data.json", {"hash": h, "d1_shape": list(x1.shape), "d2_shape": list(x2.shape),
                               "sizes": {k: int(len(v)) for k, v in split.items()}})
    io.log.info("prepared D1 %s, D2 %s (hash %s)", x1.shape, x2.shape, h)
    cells = float(np.prod(ev.shape[1:]))
    return {"n_train": len(split["train"]), "n_val": len(split["val"]), "n_test": len(split["test"]),
            "d2_inputs": x2.shape[-1], "d2_T": p.T_events,
            "d2_events_per_sample": float(ev.reshape(len(y), -1).sum(1).mean()),
            "d2_signal_events_per_sample": float(sig.reshape(len(y), -1).sum(1).mean()),
            "d2_event_rate": float(ev.mean()), "d2_on_fraction": float(ev[:, :, 0].sum() / max(ev.sum(), 1)),
            "d2_background_rate_target": p.background, "d2_cells_per_sample": cells}
