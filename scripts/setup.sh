#!/usr/bin/env bash
# Create or reuse .venv, install paperflow (torch==2.13.0 CPU first), export data/ and check it against data.dvc.
# Sourced by scripts/repro.sh and scripts/test.sh; safe to run again (re-installs only when pyproject.toml changed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=".venv/.paperflow-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  python -m pip install -q --upgrade pip
  python -m pip install -q torch==2.13.0          # the CPU build; an unpinned torch pulls CUDA (GBs)
  python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
export DVC_NO_ANALYTICS=1 PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120
git rev-parse --git-dir >/dev/null 2>&1 || { echo "setup: not a git checkout (DVC needs one); clone the repository" >&2; exit 2; }
paperflow data
# `dvc plots show` renders offline: Vega from the npm registry, inlined into .dvc/plots/offline.html
if command -v npm >/dev/null 2>&1; then
  [ -f .venv/vega/node_modules/vega-embed/build/vega-embed.min.js ] || npm install --prefix .venv/vega --no-save \
    --no-package-lock --no-audit --no-fund --silent vega@5 vega-lite@5 vega-embed@6
  paperflow plots-template && dvc config --local plots.html_template plots/offline.html
else
  echo "setup: npm not found; \`dvc plots show\` pages will need the network (install Node.js and re-run)" >&2
fi
if ! dvc status data.dvc | grep -q "up to date"; then
  echo "setup: data/ does not match data.dvc (different scikit-learn?); see 'dvc status data.dvc'" >&2; exit 2
fi
