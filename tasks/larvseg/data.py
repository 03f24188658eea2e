"""Synthetic texture segmentation data with exact masks (sheet "Data (design)"; replaces COCO / ADE / ImageNet).

K = 16 texture categories = 4 orientations x 2 spatial frequencies x 2 two-colour palettes; class c has orientation
c // 4, frequency (c // 2) % 2, palette c % 2. B = 10 base classes (masks) and N = 6 novel classes (image labels
only); every factor level occurs among the base classes, so novel classes are new combinations of seen factors.
Each novel class has a paired base "context" class (boat <-> water) used as its background in a fraction rho of
its weakly labelled images.

An image is a label map of regions: 1-4 Voronoi "stuff" regions (region ids 0-3) with up to two "object" blobs
(ids 4, 5) with a smooth random radial-Fourier boundary painted on top. Every region draws its own oriented
sinusoid (angle +-10 deg, period +-10 %, random phase, brightness offset) between its palette's two colours; pixel
noise sigma = `noise`. The label of a pixel is the class of the region that drew it, so masks are exact.
Everything is vectorised over images (numpy); one seeded Generator per split.
"""
from __future__ import annotations

import numpy as np

H = W = 32
K = 16
NOVEL = (1, 4, 6, 11, 13, 14)
BASE = tuple(c for c in range(K) if c not in NOVEL)
CONTEXT = {1: 0, 4: 5, 6: 7, 11: 10, 13: 12, 14: 15}        # novel class -> its paired base context class
PERIODS = (8.0, 4.0)                                          # pixels per grating period at frequency level 0, 1
PALETTES = np.array([[[0.85, 0.25, 0.20], [0.20, 0.30, 0.85]],   # palette 0: red <-> blue
                     [[0.20, 0.75, 0.25], [0.90, 0.85, 0.20]]],  # palette 1: green <-> yellow
                    dtype=np.float32)
MAX_STUFF, MAX_OBJ = 4, 2
IGNORE = 255


def factors(c) -> tuple:
    """class id(s) -> (orientation 0-3, frequency 0-1, palette 0-1)."""
    c = np.asarray(c)
    return c // 4, (c // 2) % 2, c % 2


def voronoi(rng: np.random.Generator, n_img: int, n_seeds: np.ndarray) -> np.ndarray:
    """(n_img, H, W) int region ids in [0, n_seeds): nearest of n_seeds[i] uniform seed points."""
    pts = rng.uniform(0, H, size=(n_img, MAX_STUFF, 2))
    pts[np.arange(MAX_STUFF)[None, :] >= n_seeds[:, None]] = 1e6           # unused seeds far away
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
    d = (yy[None, None] - pts[:, :, 0, None, None]) ** 2 + (xx[None, None] - pts[:, :, 1, None, None]) ** 2
    return d.argmin(1)


def blobs(rng: np.random.Generator, n_img: int, area: np.ndarray) -> np.ndarray:
    """(n_img, H, W) bool masks of radial-Fourier blobs r(t) = r0 (1 + sum_k a_k cos(k t + phi_k)), k = 2..4,
    with pi r0^2 = area * H * W; centres keep the blob mostly inside the image."""
    r0 = np.sqrt(area * H * W / np.pi)
    amp = rng.uniform(0, 0.15, size=(n_img, 3))
    phi = rng.uniform(0, 2 * np.pi, size=(n_img, 3))
    lo = np.minimum(r0 * 0.8, H / 2)
    cy = lo + rng.uniform(0, 1, n_img) * np.maximum(H - 2 * lo, 0)
    cx = lo + rng.uniform(0, 1, n_img) * np.maximum(W - 2 * lo, 0)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
    dy, dx = yy[None] - cy[:, None, None], xx[None] - cx[:, None, None]
    t = np.arctan2(dy, dx)
    k = np.arange(2, 5)
    r = r0[:, None, None] * (1 + (amp[:, :, None, None] * np.cos(k[None, :, None, None] * t[:, None]
                                                                   + phi[:, :, None, None])).sum(1))
    return dx ** 2 + dy ** 2 <= r ** 2


def render(rng: np.random.Generator, region: np.ndarray, region_cls: np.ndarray, noise: float) -> np.ndarray:
    """region (n, H, W) ids in [0, R), region_cls (n, R) class per region -> (n, 3, H, W) float32 images."""
    n, R = region_cls.shape
    o, f, pal = factors(region_cls)
    ang = np.deg2rad(o * 45.0 + rng.uniform(-10, 10, (n, R)))
    period = np.asarray(PERIODS)[f] * rng.uniform(0.9, 1.1, (n, R))
    phase = rng.uniform(0, 2 * np.pi, (n, R))
    bright = rng.uniform(-0.15, 0.15, (n, R))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    # per-pixel parameters of the region that draws it: (n, H, W)
    take = lambda a: np.take_along_axis(a, region.reshape(n, -1), 1).reshape(n, H, W)
    a_p, per_p, ph_p, b_p, pal_p = take(ang), take(period), take(phase), take(bright), take(pal)
    s = np.sin(2 * np.pi / per_p * (xx * np.cos(a_p) + yy * np.sin(a_p)) + ph_p)
    t = ((s + 1) / 2)[:, None]                                                # (n, 1, H, W)
    c0 = PALETTES[pal_p, 0].transpose(0, 3, 1, 2)                            # (n, 3, H, W)
    c1 = PALETTES[pal_p, 1].transpose(0, 3, 1, 2)
    img = c0 + t * (c1 - c0) + b_p[:, None] + noise * rng.standard_normal((n, 3, H, W))
    return img.astype(np.float32)


def compose(rng, stuff_cls: np.ndarray, n_stuff: np.ndarray, obj_cls: np.ndarray, obj_area: np.ndarray,
            noise: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """stuff_cls (n, 4), n_stuff (n,), obj_cls (n, 2) with -1 = no object, obj_area (n, 2) ->
    images (n, 3, H, W) float32, labels (n, H, W) uint8, region ids (n, H, W) int8 (0-3 stuff, 4-5 objects)."""
    n = len(n_stuff)
    region = voronoi(rng, n, n_stuff)
    for j in range(MAX_OBJ):                                                   # painted in order: later on top
        m = blobs(rng, n, obj_area[:, j]) & (obj_cls[:, j] >= 0)[:, None, None]
        region = np.where(m, MAX_STUFF + j, region)
    region_cls = np.concatenate([stuff_cls, np.maximum(obj_cls, 0)], 1)       # (n, 6)
    labels = np.take_along_axis(region_cls, region.reshape(n, -1), 1).reshape(n, H, W)
    return render(rng, region, region_cls, noise), labels.astype(np.uint8), region.astype(np.int8)


def _pick(rng, pool, shape) -> np.ndarray:
    return np.asarray(pool)[rng.integers(0, len(pool), size=shape)]


def make_seg(rng, n: int, area: tuple[float, float], noise: float):
    """D_seg (COCO-like): base classes only, 2-4 stuff regions, one base object in half the images."""
    n_stuff = rng.integers(2, MAX_STUFF + 1, n)
    obj = np.full((n, MAX_OBJ), -1)
    has = rng.uniform(size=n) < 0.5
    obj[has, 0] = _pick(rng, BASE, has.sum())
    a = rng.uniform(*area, (n, MAX_OBJ))
    return compose(rng, _pick(rng, BASE, (n, MAX_STUFF)), n_stuff, obj, a, noise)


def make_cls(rng, n: int, rho: float, area: tuple[float, float], noise: float):
    """D_cls (ImageNet-like): one novel object on 1-3 base regions; with probability rho every background region
    is the object's context class, otherwise none is. Returns images, labels (diagnostics/oracle only), regions,
    the image label (n,) and the context flag (n,)."""
    cls = _pick(rng, NOVEL, n)
    ctx = rng.uniform(size=n) < rho
    others = np.array([[b for b in BASE if b != CONTEXT[c]] for c in NOVEL])  # (6, 9) non-context bases
    idx = np.searchsorted(NOVEL, cls)
    bg = others[idx[:, None], rng.integers(0, others.shape[1], (n, MAX_STUFF))]
    bg = np.where(ctx[:, None], np.vectorize(CONTEXT.get)(cls)[:, None], bg)
    obj = np.stack([cls, np.full(n, -1)], 1)
    a = rng.uniform(*area, (n, MAX_OBJ))
    img, lab, reg = compose(rng, bg, rng.integers(1, 4, n), obj, a, noise)
    return img, lab, reg, cls.astype(np.int64), ctx


def make_eval(rng, n: int, area: tuple[float, float], noise: float, context_frac: float):
    """D_val / D_test (ADE-like): 1-2 distinct novel objects on 1-3 base regions, full masks. With probability
    context_frac the first region is the context class of a novel class absent from the image (context without
    its object); other regions are uniform base classes (so objects mostly sit on non-context backgrounds)."""
    n_obj = rng.integers(1, MAX_OBJ + 1, n)
    order = np.argsort(rng.uniform(size=(n, len(NOVEL))), 1)                   # a random permutation per image
    obj = np.asarray(NOVEL)[order[:, :MAX_OBJ]]
    obj[:, 1] = np.where(n_obj > 1, obj[:, 1], -1)
    absent = np.asarray(NOVEL)[order[:, MAX_OBJ]]                              # a novel class not in the image
    stuff = _pick(rng, BASE, (n, MAX_STUFF))
    use = rng.uniform(size=n) < context_frac
    stuff[:, 0] = np.where(use, np.vectorize(CONTEXT.get)(absent), stuff[:, 0])
    a = rng.uniform(*area, (n, MAX_OBJ))
    return compose(rng, stuff, rng.integers(1, 4, n), obj, a, noise)


def downsample(labels: np.ndarray) -> np.ndarray:
    """Nearest 2x downsampling of (…, H, W) label maps (as F.interpolate(mode='nearest'))."""
    return labels[..., ::2, ::2]
