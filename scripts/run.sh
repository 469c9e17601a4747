#!/usr/bin/env bash
# The quick start's first command: installs the package when needed, then runs the `prodsched run`
# command with the arguments given (e.g. `bash scripts/run.sh sample_data --out out`).
# Outside a virtualenv or conda env, the package goes into the project's .venv/ (made once with
# python3, 3.11+; see scripts/venv.sh); inside one, into that env.
set -euo pipefail
# shellcheck source=scripts/venv.sh
source "$(dirname "$0")/venv.sh"
use_env
install_package ""
exec "$PY" -m prodsched run "$@"
