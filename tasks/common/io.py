"""StageIO: everything a stage function may read or write, resolved by the runner.

Stages write only into `io.out` (a temporary folder that the runner renames into place on success), read
upstream outputs through `io.input(...)`, and log curves and models through `io` (which forwards to tracking).
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from . import layout
from .errors import UserError

MODEL_CONFIG = "{name}.json"     # the one config file name: <name>.pt (state dict) + <name>.json (build config)


def save_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(finite(obj), indent=2, sort_keys=True, default=_jsonable, allow_nan=False) + "\n")
    tmp.replace(path)


def finite(o: Any) -> Any:
    """JSON has no NaN/Infinity: non-finite floats become null (shown as '-' by `dvc metrics show`)."""
    if isinstance(o, dict):
        return {k: finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.ndarray):
        return finite(o.tolist())
    return o


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing; run the stage that makes it (`dvc repro`)") from None
    except json.JSONDecodeError:
        raise UserError(f"{path}: corrupt JSON; delete it and re-run the stage that makes it (`dvc repro -f`)") from None


def _logged(iterable: Iterable, total: int | None, label: str, log: logging.Logger, every_s: float = 30.0):
    t0 = last = time.monotonic()
    for i, x in enumerate(iterable, 1):
        yield x
        now = time.monotonic()
        if now - last >= every_s:
            log.info("%s: %d/%s after %.0f s", label, i, total if total is not None else "?", now - t0)
            last = now


@dataclass
class StageIO:
    root: Path
    paper: str
    stage: str
    item: Any                      # the foreach Item (a str with axis attributes: io.item.arm), or None
    profile: str
    out: Path
    plots: Path
    seed_base: int
    after: tuple[str, ...]
    items_of: dict[str, tuple[str, ...]]
    paper_seed: int = 0            # <slug>.seed in params.yaml
    tracker: Any = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("paperflow"))
    curves: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    models: list[tuple[Any, str]] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def input(self, stage: str, item: str | None = None) -> Path:
        if stage not in self.after:
            raise UserError(f"{self.paper}.{self.stage} reads {stage!r} but does not list it in after=; fix the Stage")
        path = layout.out_dir(self.root, self.paper, stage, item)
        if not layout.complete(path):
            raise UserError(f"{path.relative_to(self.root)}: missing or incomplete; run `dvc repro {self.paper}_{stage}` first")
        return path

    def seed(self, *salt: Any) -> int:
        """A deterministic 32-bit seed from the stage's `seed` param, the paper's `<slug>.seed` and the salts.
        The paper seed enters only when non-zero, so seed 0 keeps the streams of the committed runs."""
        base = (self.seed_base, self.paper) + ((("paper-seed", self.paper_seed),) if self.paper_seed else ())
        h = hashlib.sha256(repr((*base, *(str(s) if isinstance(s, str) else s for s in salt))).encode()).digest()
        return int.from_bytes(h[:4], "little")

    # --- files -------------------------------------------------------------------------------------
    def save_json(self, name: str, obj: Any) -> Path:
        save_json_atomic(self.out / name, obj)
        return self.out / name

    def load_json(self, stage: str, name: str, item: str | None = None) -> Any:
        return load_json(self.input(stage, item) / name)

    def upstream_metrics(self, stage: str, item: str | None = None) -> dict[str, float]:
        self.input(stage, item)
        return load_json(layout.metrics_file(self.root, self.paper, stage, item))

    def save_npz(self, name: str, **arrays: np.ndarray) -> Path:
        np.savez_compressed(self.out / name, **arrays)
        return self.out / name

    def load_npz(self, stage: str, name: str, item: str | None = None) -> dict[str, np.ndarray]:
        path = self.input(stage, item) / name
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except FileNotFoundError:
            raise UserError(f"{path}: missing; re-run `dvc repro -f {self.paper}_{stage}`") from None
        except (ValueError, OSError) as e:
            raise UserError(f"{path}: corrupt ({e}); delete it and re-run `dvc repro -f {self.paper}_{stage}`") from None

    def save_torch(self, name: str, state: Any) -> Path:
        import torch

        torch.save(state, self.out / name)
        return self.out / name

    def load_torch(self, stage: str, name: str, item: str | None = None) -> Any:
        import torch

        path = self.input(stage, item) / name
        try:
            return torch.load(path, weights_only=True, map_location="cpu")
        except FileNotFoundError:
            raise UserError(f"{path}: missing; re-run `dvc repro -f {self.paper}_{stage}`") from None
        except Exception as e:  # noqa: BLE001 - pickle/zip errors of a damaged file
            raise UserError(f"{path}: corrupt ({type(e).__name__}); re-run `dvc repro -f {self.paper}_{stage}`") from None

    def save_model(self, model: Any, config: dict[str, Any], name: str = "model", log: bool = True) -> Path:
        """`<name>.pt` (state dict) and `<name>.json` (the config `build(config)` takes); logged to MLflow too."""
        self.save_json(MODEL_CONFIG.format(name=name), config)
        path = self.save_torch(f"{name}.pt", model.state_dict())
        if log:
            self.log_model(model, name)
        return path

    def load_model(self, stage: str, build: Any, item: str | None = None, name: str = "model",
                   freeze: bool = False) -> Any:
        """The model an upstream stage saved with `save_model`: `build(config)`, weights loaded, eval mode
        (`freeze`: no gradients either)."""
        model = build(self.load_json(stage, MODEL_CONFIG.format(name=name), item))
        state = self.load_torch(stage, f"{name}.pt", item)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            path = self.input(stage, item) / f"{name}.pt"
            raise UserError(f"{path}: weights do not fit the saved config ({str(e).splitlines()[0]}); "
                            f"re-run `dvc repro -f {self.paper}_{stage}`") from None
        model.eval()
        if freeze:
            for q in model.parameters():
                q.requires_grad_(False)
        return model

    # --- tracking ----------------------------------------------------------------------------------
    def log_curve(self, name: str, values: Iterable[float], steps: Iterable[int] | None = None) -> None:
        """A per-step metric: an MLflow metric history and a CSV declared as a DVC plot."""
        vals = [float(v) for v in values]
        stp = [int(s) for s in steps] if steps is not None else list(range(len(vals)))
        self.curves[name] = (stp, vals)
        self.plots.mkdir(parents=True, exist_ok=True)
        with (self.plots / f"{name}.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", name])
            w.writerows(zip(stp, (f"{v:.6g}" for v in vals)))

    def log_curves(self, curves: dict[str, tuple[list[int], list[float]]]) -> None:
        """Several curves at once, e.g. `History.curves()` of the shared trainer."""
        for name, (steps, values) in curves.items():
            self.log_curve(name, values, steps)

    def log_model(self, model: Any, name: str = "model") -> None:
        self.models.append((model, name))

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterable:
        """A tqdm bar on a terminal; elsewhere (DVC or Prefect capturing the output) a log line every 30 s."""
        label = f"{self.paper}.{self.stage} {desc}".strip()
        if sys.stderr.isatty():
            from tqdm.auto import tqdm

            return tqdm(iterable, total=total, desc=label, leave=False)
        return _logged(iterable, total, label, self.log)
