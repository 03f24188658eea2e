#!/usr/bin/env bash
# Set everything up, then run the test suite (real dvc, Prefect and MLflow in temporary folders).
set -euo pipefail
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
python -m pytest "$@"
