#!/usr/bin/env bash
# The suite on several machines (docs/cluster.md). Thin wrapper around `paperflow cluster ...`:
#   bash scripts/cluster.sh install        # PostgreSQL server (apt-get, as root) + the `cluster` extra (psycopg2)
#   bash scripts/cluster.sh up             # PostgreSQL, Prefect server, MLflow server on 127.0.0.1; prints exports
#   bash scripts/cluster.sh deploy         # work pool `paperflow`, deployment paper-cluster/cluster, zombie automation
#   bash scripts/cluster.sh worker         # a worker for this checkout (foreground; one per machine)
#   bash scripts/cluster.sh run mdm grsnn --spread 2
#   bash scripts/cluster.sh pull mdm grsnn # this checkout restored from the DVC remote
#   bash scripts/cluster.sh down           # stop the services (by PID, from .paperflow/cluster/pids.json)
#   bash scripts/cluster.sh test           # the real cluster test (minutes; not part of scripts/test.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
action=${1:-}
[ -n "$action" ] || { sed -n '2,11p' "$0"; exit 2; }
shift
install_postgres() {
  if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
  else
    echo "cluster: install the PostgreSQL server (e.g. sudo apt-get install postgresql) and re-run" >&2; exit 2
  fi
}
case "$action" in
  install|test)
    install_postgres
    # shellcheck disable=SC1091
    source scripts/setup.sh
    python -m pip install -q -e '.[test,cluster]'
    if [ "$action" = test ]; then python -m pytest -m cluster -n 0 tests/test_cluster.py "$@"; fi ;;
  *)
    # shellcheck disable=SC1091
    . .venv/bin/activate
    export DVC_NO_ANALYTICS=1 PREFECT_SERVER_ANALYTICS_ENABLED=false MLFLOW_DISABLE_TELEMETRY=true
    exec paperflow cluster "$action" "$@" ;;
esac
