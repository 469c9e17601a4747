#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, then runs the whole suite.
#   system: redis-server (store contract tests), chromium (JupyterLab browser test), fonts-nanum
#           (Hangul in the PNG and the screenshots), g++ and the
#           Python headers (the compiled engine), python3-venv when a venv must be made
#   python: the package with its [test], [app] and [dask] extras, in the active virtualenv or conda env, else in the
#           project's .venv/ (see scripts/venv.sh); the tests' `python3` Jupyter kernel runs it
# Extra arguments are passed to pytest (e.g. `bash scripts/test.sh -k engine`).
# Run again, it installs nothing that is there already.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/venv.sh
source scripts/venv.sh
use_env

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# a Korean font: gantt.png and the browser screenshots draw Hangul names
[ -n "$(find /usr/share/fonts -iname '*nanum*' -print -quit 2>/dev/null)" ] || need_apt+=(fonts-nanum)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
# Debian's Python keeps its headers apart (python3.11-dev for /usr/include/python3.11).
py_include="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
if [ ! -f "$py_include/Python.h" ] && [[ "$py_include" == /usr/include/python3* ]]; then
  need_apt+=("$(basename "$py_include")-dev")
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if can_be_root; then
    apt_install "${need_apt[@]}" || die "apt-get could not install ${need_apt[*]}"
  else
    say "cannot install ${need_apt[*]} (not root, no sudo): install them as root, else the" \
        "tests that need them skip (redis-server, chromium) or fail (g++, headers)"
  fi
fi

install_package test
install_package app   # prodsched app (Voila) is tested in the browser too
install_package dask  # sweeps run on real Dask clusters
# The notebooks run in the kernel named python3. The tests take it from this environment's own
# share/jupyter (put first on JUPYTER_PATH), so the kernels a user registered are neither used
# nor changed; ipykernel installs that spec, else it is written there once.
export JUPYTER_PATH="$ENV_PREFIX/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
"$PY" - <<'PYEOF'
import os, subprocess, sys
from jupyter_client.kernelspec import KernelSpecManager

if not os.path.isfile(os.path.join(sys.prefix, "share", "jupyter", "kernels", "python3", "kernel.json")):
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3"],
                   check=True, stdout=subprocess.DEVNULL)
spec = KernelSpecManager().get_kernel_spec("python3")
# jupyter_client starts a spec whose argv[0] is a bare python/python3 with sys.executable
bare = {"python", "python%d" % sys.version_info[0], "python%d.%d" % sys.version_info[:2]}
if spec.argv[0] not in bare and os.path.realpath(spec.argv[0]) != os.path.realpath(sys.executable):
    sys.exit(f"prodsched: the Jupyter kernel python3 ({spec.resource_dir}) runs {spec.argv[0]}, "
             f"not {sys.executable}")
PYEOF

# lint, the layers of the package, and the compiled engine once more with its bounds checks on
"$PY" -m ruff check --no-cache .
"$(dirname "$PY")/lint-imports" --no-cache
PYTHON="$PY" bash scripts/check_native.sh -q

export PRODSCHED_REQUIRE_NATIVE="${PRODSCHED_REQUIRE_NATIVE:-1}"
"$PY" -m pytest "$@"
