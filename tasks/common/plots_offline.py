"""`paperflow plots-template`: an HTML template for `dvc plots show` with the Vega scripts inlined, so the page
renders with no network (DVC's default page loads Vega from a CDN). The scripts come from the npm registry
(vega 5, vega-lite 5, vega-embed 6, installed by scripts/setup.sh under .venv/vega); `.dvc/config` points
`plots.html_template` at the generated `.dvc/plots/offline.html` (not in git: it is built from installed files).
"""
from __future__ import annotations

from pathlib import Path

from .errors import UserError

SCRIPTS = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")
TEMPLATE = "plots/offline.html"          # relative to .dvc/, as DVC reads plots.html_template


def write(root: Path, modules: Path | None = None) -> Path:
    modules = modules or root / ".venv" / "vega" / "node_modules"
    missing = [s for s in SCRIPTS if not (modules / s).is_file()]
    if missing:
        raise UserError(f"{modules}: missing {', '.join(missing)}; run `bash scripts/setup.sh` (it installs them "
                        "with npm)")
    scripts = "\n".join(f"<script>\n{(modules / s).read_text()}\n</script>" for s in SCRIPTS)
    page = ("<!DOCTYPE html>\n<html>\n<head>\n{refresh_tag}\n<title>DVC Plot (offline)</title>\n" + scripts +
            "\n<style>table { border-spacing: 15px; }</style>\n</head>\n<body>\n{plot_divs}\n</body>\n</html>\n")
    out = root / ".dvc" / TEMPLATE
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return out
