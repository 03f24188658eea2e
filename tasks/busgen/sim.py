"""A seeded ultrasound-like simulator of lesion-centred grayscale crops (the stand-in for BUS-3.5M; sheet, Data).

Each image: echogenicity layers (bright skin line, dark fat with low-pass noise, brighter textured fibroglandular
tissue, muscle striation at the bottom) times a hypoechoic lesion whose morphology is driven by a latent severity s
with class-dependent, overlapping distributions (benign s ~ N(-sep/2, 1), malignant s ~ N(+sep/2, 1)), then speckle
(complex Gaussian field * device PSF -> Rayleigh magnitude), depth attenuation, log compression to the device's
dynamic range, gain and gamma. Everything is vectorised over images; the only loop is over the 4 devices.

Subtypes: 0 benign (oval, wider-than-tall, smooth, capsule, posterior enhancement), 1 invasive (irregular/spiculated,
taller-than-wide, heterogeneous, echogenic halo, posterior shadow), 2 DCIS-like (small, micro-lobulated, 1-3 bright
microcalcifications, weak posterior features). Pathology label = subtype > 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

BENIGN, INVASIVE, DCIS = 0, 1, 2
DEVICES = ("A", "B", "C", "D")          # D is never seen by any generator or classifier (test only)


@dataclass(frozen=True)
class Device:
    psf_y: float        # axial PSF sigma (px)
    psf_x: float        # lateral PSF sigma (px)
    dr_db: float        # dynamic range of the log compression
    gain_db: float      # overall gain
    gamma: float        # display gamma
    atten: float        # depth attenuation alpha (per px)
    blur: float         # post-compression display blur (px)


DEVICE_STYLES = {
    "A": Device(psf_y=0.5, psf_x=0.8, dr_db=48.0, gain_db=0.0, gamma=1.0, atten=0.03, blur=0.0),
    "B": Device(psf_y=0.9, psf_x=1.4, dr_db=36.0, gain_db=6.0, gamma=0.75, atten=0.06, blur=0.5),
    "C": Device(psf_y=0.35, psf_x=0.5, dr_db=60.0, gain_db=-6.0, gamma=1.35, atten=0.01, blur=0.0),
    "D": Device(psf_y=0.7, psf_x=1.1, dr_db=42.0, gain_db=3.0, gamma=1.15, atten=0.08, blur=0.3),
}


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def render(rng: np.random.Generator, subtype: np.ndarray, device: np.ndarray, size: int = 16,
           sep: float = 0.3) -> np.ndarray:
    """Images (n, size, size) uint8 for the given subtypes (0/1/2) and device indices (0..3 = A..D)."""
    lat = latents(rng, subtype, sep)
    return draw(rng, lat, device, size)


def latents(rng: np.random.Generator, subtype: np.ndarray, sep: float) -> dict[str, np.ndarray]:
    """The clean-anatomy parameters of each image (re-used by `draw` to re-speckle the same lesions)."""
    n = len(subtype)
    st = np.asarray(subtype)
    s = rng.normal(size=n) + np.where(st == BENIGN, -sep / 2, sep / 2)
    g = _sig(s)                                                  # severity in (0, 1)
    u = lambda lo, hi: rng.uniform(lo, hi, n)                    # noqa: E731
    size_ = np.select([st == BENIGN, st == INVASIVE], [u(2.6, 4.0), u(2.8, 4.2)], u(2.1, 3.3))
    size_ = size_ * (1.0 + 0.25 * (g - 0.5) * np.where(st == DCIS, -1, 1))
    aspect = np.select([st == BENIGN, st == INVASIVE], [1.9 - 0.8 * g, 1.2 - 0.6 * g], 1.3 - 0.5 * g)  # w/h
    aspect = aspect * np.exp(0.12 * rng.normal(size=n))
    irr = np.select([st == BENIGN, st == INVASIVE], [0.04 * g, 0.08 + 0.25 * g], 0.04 + 0.14 * g)
    freq = np.select([st == BENIGN, st == INVASIVE], [np.full(n, 3.0), np.full(n, 6.0)], np.full(n, 9.0))
    hetero = np.select([st == BENIGN, st == INVASIVE], [0.1 + 0.3 * g, 0.3 + 0.5 * g], 0.2 + 0.3 * g)
    capsule = np.where(st == BENIGN, 0.9 * (1 - g), 0.1 * (1 - g))
    halo = np.select([st == BENIGN, st == INVASIVE], [0.1 * g, 0.4 + 0.6 * g], 0.25 * g)
    posterior = np.select([st == BENIGN, st == INVASIVE], [0.7 * (1 - g), -0.75 * g], 0.25 * (0.5 - g))
    n_calc = np.where(st == DCIS, rng.binomial(3, 0.15 + 0.75 * g), np.where(st == INVASIVE,
                      rng.binomial(1, 0.2 * g), rng.binomial(1, 0.08 * g)))
    return {
        "s": s, "subtype": st, "a": size_ * np.sqrt(aspect), "b": size_ / np.sqrt(aspect), "irr": irr,
        "freq": freq, "phase": u(0, 2 * np.pi), "tilt": rng.normal(0, 0.2, n), "hetero": hetero,
        "capsule": capsule, "halo": halo, "posterior": posterior, "n_calc": n_calc,
        "calc_r": rng.uniform(0, 0.7, (n, 3)), "calc_t": rng.uniform(0, 2 * np.pi, (n, 3)),
        "hypo": u(0.2, 0.4), "cx": rng.normal(0, 0.6, n), "cy": rng.normal(-0.8, 0.5, n),
        "skin": u(0.5, 1.5), "fat": u(3.0, 5.0), "muscle": u(0.0, 1.0)
    }


def anatomy_fields(rng: np.random.Generator, n: int, size: int, ss: int = 2) -> np.ndarray:
    """White-noise fields (n, 3, ss*size, ss*size) behind the fat, tissue and lesion textures. Stored in the
    latents (key 'fields') they fix the anatomy, so `draw` changes only the speckle (re-speckled copies)."""
    return rng.normal(size=(n, 3, size * ss, size * ss))


def take(lat: dict, idx: np.ndarray) -> dict:
    """Latents of the images idx (e.g. np.repeat for copies)."""
    return {k: v[idx] for k, v in lat.items()}


def _echogenicity(rng, lat: dict, size: int, ss: int) -> tuple[np.ndarray, np.ndarray]:
    """Clean echogenicity maps (n, ss*H, ss*W) on an ss-times finer grid (lengths in output pixels)."""
    n = len(lat["s"])
    g1 = (np.arange(size * ss, dtype=np.float64) + 0.5) / ss - 0.5
    yy, xx = g1[None, :, None], g1[None, None, :]                           # (1, sH, 1), (1, 1, sW)
    size_f = size
    size = size * ss
    c = (size_f - 1) / 2
    depth = yy + 0 * xx
    skin = lat["skin"][:, None, None]
    fat = lat["fat"][:, None, None]
    fields = lat["fields"] if "fields" in lat else anatomy_fields(rng, n, size_f, ss)
    lowpass = gaussian_filter(fields[:, 0], sigma=(0, 2.0 * ss, 2.0 * ss)) * 3.0 * ss
    tex = gaussian_filter(fields[:, 1], sigma=(0, 0.6 * ss, 1.5 * ss)) * 1.5 * ss
    tissue = np.where(depth < skin, 1.0, np.where(depth < skin + fat, 0.28 + 0.08 * lowpass, 0.62 + 0.15 * tex))
    musc = (depth > size_f - 3 + lat["muscle"][:, None, None])
    tissue = np.where(musc, 0.45 + 0.2 * np.sin(1.6 * yy + 0.3 * xx), tissue)
    # lesion geometry: radial profile r(theta) around (cx, cy)
    dx = xx - (c + lat["cx"][:, None, None])
    dy = yy - (c + lat["cy"][:, None, None])
    t = lat["tilt"][:, None, None]
    rx = dx * np.cos(t) + dy * np.sin(t)
    ry = -dx * np.sin(t) + dy * np.cos(t)
    a, b = lat["a"][:, None, None], lat["b"][:, None, None]
    theta = np.arctan2(ry, rx)
    rho = np.sqrt((rx / a) ** 2 + (ry / b) ** 2)                            # 1 at the ellipse
    edge = 1.0 + lat["irr"][:, None, None] * np.cos(lat["freq"][:, None, None] * theta + lat["phase"][:, None, None])
    d = rho - edge                                                           # < 0 inside
    mask = _sig(-d / 0.08)
    ring = np.exp(-(d / 0.12) ** 2)
    halo = np.exp(-((d - 0.35) / 0.25) ** 2) * (d > 0)
    lesion_tex = 1.0 + lat["hetero"][:, None, None] * gaussian_filter(fields[:, 2], (0, 0.7 * ss, 0.7 * ss)) * 2 * ss
    hypo = lat["hypo"][:, None, None] * np.clip(lesion_tex, 0.2, 3.0)
    e = tissue * (1 - mask) + tissue * hypo * mask
    e = e + 0.6 * lat["capsule"][:, None, None] * ring + 0.5 * lat["halo"][:, None, None] * halo
    # posterior band: below the lesion, within its lateral extent (enhancement > 0, shadow < 0)
    below = (ry > 0.5 * b) & (np.abs(rx) < 0.9 * a)
    fade = np.exp(-np.clip(ry - b, 0, None) / 6.0)
    e = e * (1 + lat["posterior"][:, None, None] * below * fade)
    # microcalcifications: bright points inside the lesion
    for k in range(3):
        on = (lat["n_calc"] > k)[:, None, None]
        px = c + lat["cx"][:, None, None] + lat["calc_r"][:, k, None, None] * a * np.cos(lat["calc_t"][:, k, None, None])
        py = c + lat["cy"][:, None, None] + lat["calc_r"][:, k, None, None] * b * np.sin(lat["calc_t"][:, k, None, None])
        spot = np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * 0.35 ** 2))
        e = e + on * 2.5 * spot
    return np.clip(e, 0.02, None), mask


def draw(rng: np.random.Generator, lat: dict, device: np.ndarray, size: int = 16, ss: int = 2) -> np.ndarray:
    """Render latents with fresh speckle for each image's device: uint8 (n, size, size). Speckle and anatomy are
    simulated on an ss-times finer grid and box-averaged to the output pixels (a pixel spans several grains)."""
    n = len(lat["s"])
    echo, _ = _echogenicity(rng, lat, size, ss)
    S = size * ss
    out = np.zeros((n, S, S), dtype=np.float64)
    dev = np.asarray(device)
    yy = ((np.arange(S, dtype=np.float64) + 0.5) / ss)[None, :, None]
    field = rng.normal(size=(n, S, S)) + 1j * rng.normal(size=(n, S, S))
    for k, name in enumerate(DEVICES):
        sel = dev == k
        if not sel.any():
            continue
        d = DEVICE_STYLES[name]
        f = field[sel]
        env = np.abs(gaussian_filter(f.real, (0, d.psf_y * ss, d.psf_x * ss)) + 1j * gaussian_filter(f.imag, (0, d.psf_y * ss, d.psf_x * ss)))
        env = env / np.sqrt(np.mean(env ** 2, axis=(1, 2), keepdims=True))     # unit mean power (Rayleigh)
        amp = echo[sel] * env * np.exp(-d.atten * yy)
        db = 20 * np.log10(amp + 1e-6) + d.gain_db
        img = np.clip((db + d.dr_db * 0.7) / d.dr_db, 0, 1) ** d.gamma
        if d.blur > 0:
            img = gaussian_filter(img, (0, d.blur * ss, d.blur * ss))
        out[sel] = img
    out = out.reshape(n, size, ss, size, ss).mean(axis=(2, 4))
    return np.round(out * 255).astype(np.uint8)


def to_float(img_u8: np.ndarray) -> np.ndarray:
    """uint8 images -> float32 in [-1, 1], shape (n, 1, H, W) (the generator's and classifiers' input)."""
    return (img_u8.astype(np.float32) / 127.5 - 1.0)[:, None]


def to_u8(x: np.ndarray) -> np.ndarray:
    """float images in [-1, 1], (n, 1, H, W) -> uint8 (n, H, W) (banks are stored like real images)."""
    return np.round((np.clip(x[:, 0], -1, 1) + 1) * 127.5).astype(np.uint8)
