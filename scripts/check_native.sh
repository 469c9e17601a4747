#!/usr/bin/env bash
# The compiled engine built once with its checks on, and the compiled-vs-Python tests run on it.
#
# The release build turns Cython's bounds checks and wraparound off, so an index out of range in
# prodsched/engine/_native would read or write past an array (a crash of the user's kernel, or a
# wrong schedule). This script copies the package into a temporary directory, turns both checks
# on in every .pyx there, compiles with the C++ library's assertions (every std::vector index is
# checked: a bad one aborts with a message), and runs tests/test_engine_native*.py, the pins' and
# the optimiser's tests (compiled and Python re-timing side by side) against that build. The working tree and its own build are not touched.
#   bash scripts/check_native.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"

work="$(mktemp -d "${TMPDIR:-/tmp}/prodsched-checked.XXXXXX")"
trap 'rm -rf "$work"' EXIT

tar cf - --exclude='*.so' --exclude='*.cpp' --exclude='__pycache__' prodsched | tar xf - -C "$work"
for src in "$work"/prodsched/engine/_native/*.pyx; do
  sed -i '1,3s/boundscheck=False, wraparound=False/boundscheck=True, wraparound=True/' "$src"
  if ! grep -q '^# cython: .*boundscheck=True, wraparound=True' "$src"; then
    echo "check_native: no '# cython: ... boundscheck=False, wraparound=False' header in" \
         "${src#"$work"/} to turn on" >&2
    exit 1
  fi
done

echo "check_native: building the checked engine in $work"
(cd "$work" && "$python" - <<'EOF'
from Cython.Build import cythonize
from setuptools import Extension, setup

names = ("setups", "timeline", "load", "dispatch", "retime")
extensions = cythonize(
    [Extension(f"prodsched.engine._native.{name}", [f"prodsched/engine/_native/{name}.pyx"],
               language="c++", extra_compile_args=["-O1", "-D_GLIBCXX_ASSERTIONS"])
     for name in names],
    compiler_directives={"boundscheck": True, "wraparound": True}, quiet=True)
setup(name="prodsched-checked", ext_modules=extensions, py_modules=[],
      script_args=["build_ext", "--inplace", "-q", "-j", "2"])
EOF
) >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; echo "check_native: build failed" >&2; exit 1; }

# the tests and what they import, beside the checked package (a root conftest.py puts its own
# directory first on sys.path: the package next to it is the one imported)
mkdir -p "$work/tests" "$work/benchmarks"
cp conftest.py pyproject.toml "$work/"
cp tests/conftest.py tests/test_engine_properties.py tests/test_engine_native.py \
   tests/test_engine_native_branches.py tests/test_engine_pins.py tests/test_improve.py "$work/tests/"
cp benchmarks/engine.py benchmarks/machine.py "$work/benchmarks/"

cd "$work"
"$python" - <<'EOF'
import sys
sys.path.insert(0, ".")
from pathlib import Path
from prodsched.engine._native import dispatch, load, retime, setups, timeline
for module in (dispatch, load, retime, setups, timeline):
    if not Path(module.__file__).resolve().is_relative_to(Path.cwd().resolve()):
        sys.exit(f"check_native: {module.__name__} comes from {module.__file__}, not the checked build")
EOF
PRODSCHED_REQUIRE_NATIVE=1 "$python" -m pytest -q -p no:cacheprovider \
  tests/test_engine_native.py tests/test_engine_native_branches.py tests/test_engine_pins.py \
  tests/test_improve.py "$@"
