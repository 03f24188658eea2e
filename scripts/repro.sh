#!/usr/bin/env bash
# Set everything up, then reproduce every registered paper at the profile in params.yaml (`dvc repro`).
set -euo pipefail
# shellcheck disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
paperflow run all "$@"
