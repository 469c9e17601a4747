#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs the whole suite.
#   system: redis-server (store contract tests), chromium (JupyterLab browser test)
#   python: the package with its [test] extra, and the `python3` Jupyter kernel
# Extra arguments are passed to pytest (e.g. `bash scripts/test.sh -k engine`).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then as_root=(env)
  elif sudo -n true 2>/dev/null; then as_root=(sudo env)
  else as_root=()
  fi
  if [ ${#as_root[@]} -gt 0 ]; then
    echo "installing ${need_apt[*]} with apt-get"
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "cannot install ${need_apt[*]} (not root, no sudo): the tests needing them will skip" >&2
  fi
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]"
python3 -m ipykernel install --user --name python3 >/dev/null

export PRODSCHED_REQUIRE_NATIVE="${PRODSCHED_REQUIRE_NATIVE:-1}"
python3 -m pytest "$@"
