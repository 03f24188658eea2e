"""data/: raw third-party inputs exported deterministically from installed packages (tracked by data.dvc).

digits.csv: scikit-learn's bundled 8x8 handwritten digits (1797 images, 64 integer pixels in 0..16, label),
used by the OPZO paper. Nothing is downloaded.
"""
from __future__ import annotations

from pathlib import Path


def export(root: Path) -> list[Path]:
    from sklearn.datasets import load_digits

    data = root / "data"
    data.mkdir(exist_ok=True)
    d = load_digits()
    rows = [",".join([*(f"p{i}" for i in range(64)), "label"])]
    rows += [",".join([*(str(int(v)) for v in x), str(int(y))]) for x, y in zip(d.data, d.target)]
    path = data / "digits.csv"
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text("\n".join(rows) + "\n")
    tmp.replace(path)
    return [path]


def track(root: Path) -> None:
    """Put data/ in the DVC cache (`dvc add`) and check that its hash is the one data.dvc records."""
    import subprocess

    import yaml

    from .errors import UserError

    dvc_file = root / "data.dvc"
    before = dvc_file.read_text() if dvc_file.exists() else None
    proc = subprocess.run(["dvc", "add", "-q", "data"], cwd=root, capture_output=True, text=True)
    if proc.returncode:
        raise UserError(f"`dvc add data` failed: {proc.stderr.strip().splitlines()[-1:]}; is this a git checkout?")
    if before is not None:
        old, new = (yaml.safe_load(t)["outs"][0]["md5"] for t in (before, dvc_file.read_text()))
        if old != new:
            dvc_file.write_text(before)
            raise UserError(f"data/: hash {new} differs from data.dvc ({old}); an installed package changed its "
                            "bundled data (check the scikit-learn version against pyproject.toml)")
