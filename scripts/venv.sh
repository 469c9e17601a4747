# shellcheck shell=bash
# Sourced by scripts/run.sh and scripts/test.sh: chooses the Python environment the package is
# installed into and run from, and installs the package there when it is not yet (or no longer)
# installed from this folder.
#
#   inside an active virtualenv or conda env  ->  that env, as it is
#   otherwise                                 ->  the project's own virtual environment .venv/
#                                                 (or $PRODSCHED_VENV), made once with python3
#
# Debian's own Python is "externally managed" (pip refuses to install into it), hence .venv/.
# Debian ships the venv module apart (python3-venv); it is installed with apt when missing and
# this runs as root or with password-less sudo, otherwise the message says what to run.
#
# After `use_env`:  $PY is the environment's python, $ENV_PREFIX its prefix, and its bin/ leads
# PATH.  `install_package [EXTRA]` then installs `-e .[EXTRA]` unless a stamp in the environment
# says that this folder, with the same pyproject.toml, setup.py, compiled-engine sources and
# built modules, is installed there already with that extra.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "prodsched: $*" >&2; exit 1; }
say() { echo "prodsched: $*" >&2; }

can_be_root() {
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

# Runs "$@" as root: directly when root, else through password-less sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

apt_install() {
  say "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The Debian package that gives interpreter $1 (a path) its venv module.
venv_package() {
  local version
  version="$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if [ "$(readlink -f "$1")" = "$(readlink -f /usr/bin/python3 2>/dev/null)" ]; then
    echo python3-venv
  else
    echo "python${version}-venv"
  fi
}

make_venv() {  # $1 = interpreter, $2 = directory
  local base="$1" dir="$2" pkg
  if ! "$base" -c 'import venv, ensurepip' 2>/dev/null; then
    pkg="$(venv_package "$base")"
    # only Debian's (or Ubuntu's) own Python gets its venv module from apt
    if [ "$("$base" -c 'import sys; print(sys.prefix)')" != /usr ] ||
       ! command -v apt-get >/dev/null 2>&1; then
      die "$base has no venv module (or no ensurepip): install one that has, or activate a" \
          "virtualenv or conda env of your own (Python 3.11+), then run this again"
    fi
    if can_be_root; then
      apt_install "$pkg" || die "apt-get could not install $pkg"
    else
      die "$base has no venv module. Install it as root ('sudo apt-get install $pkg')" \
          "(or activate a virtualenv or conda env of your own, Python 3.11+), then run this again"
    fi
  fi
  say "creating the virtual environment $dir with $base"
  if ! "$base" -m venv "$dir"; then
    rm -rf "$dir"
    die "could not create the virtual environment $dir with $base"
  fi
}

use_env() {
  local base info
  base="$(command -v python3)" ||
    die "python3 not found: install Python 3.11+ (Debian: 'apt-get install python3 python3-venv')"
  # in-env flag, version, prefix, executable, executable with links resolved; one per line
  info="$("$base" - <<'EOF'
import os, sys
conda = os.environ.get("CONDA_PREFIX")
in_env = sys.prefix != sys.base_prefix or bool(
    conda and os.path.realpath(conda) == os.path.realpath(sys.prefix))
print(int(in_env)); print("%d.%d" % sys.version_info[:2]); print(sys.prefix); print(sys.executable)
print(os.path.realpath(sys.executable))
EOF
)" || die "$base does not run"
  local in_env version prefix exe real
  { read -r in_env; read -r version; read -r prefix; read -r exe; read -r real; } <<<"$info"
  if [ "$in_env" = 1 ]; then
    "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      die "prodsched needs Python 3.11+; the active environment $prefix has Python $version"
    PY="$exe"; ENV_PREFIX="$prefix"
  else
    "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      die "prodsched needs Python 3.11+; python3 ($base) is $version. Put a newer python3 first" \
          "on PATH, or activate a virtualenv or conda env with one, then run this again"
    local dir="${PRODSCHED_VENV:-$ROOT/.venv}"
    if [ -e "$dir" ] && [ ! -f "$dir/pyvenv.cfg" ]; then
      die "$dir exists but is not a virtual environment: move it away (or set PRODSCHED_VENV)"
    fi
    # A venv whose interpreter is gone, or that was left without pip, is made anew.
    if [ -f "$dir/pyvenv.cfg" ] && ! "$dir/bin/python" -c 'import pip' 2>/dev/null; then
      say "$dir is broken (its python or pip does not run): making it anew"
      rm -rf "$dir"
    fi
    # made with the interpreter itself, not a shim or link to it that may go or change
    [ -d "$dir" ] || make_venv "$real" "$dir"
    PY="$dir/bin/python"; ENV_PREFIX="$dir"
    export VIRTUAL_ENV="$dir"
  fi
  PATH="$(dirname "$PY"):$PATH"
  export PATH
  unset PYTHONHOME
}

# What an install depends on: this folder, its build and dependency files, the compiled engine's
# sources and the modules built from them (a deleted .so is built again), and whether a C++
# compiler is there (one installed later builds the engine that could not be built before).
install_key() {
  {
    echo "$ROOT"
    command -v c++ g++ || true
    cd "$ROOT" && {
      find prodsched \( -name '*.pyx' -o -name '*.pxd' -o -name '*.h' \) -type f | LC_ALL=C sort |
        xargs -r sha256sum
      sha256sum pyproject.toml setup.py
      find prodsched -name '*.so' -type f | LC_ALL=C sort
    }
  } | sha256sum | cut -d' ' -f1
}

# Whether the environment's prodsched is the editable install of this folder (-P: the folder's
# own prodsched.egg-info must not answer for the environment).
installed_here() {
  "$PY" -P - "$(cd "$ROOT" && "$PY" -P -c 'import pathlib; print(pathlib.Path.cwd().as_uri())')" \
    <<'EOF' 2>/dev/null
import importlib.metadata as m, json, sys
url = json.loads(m.distribution("prodsched").read_text("direct_url.json") or "{}").get("url")
sys.exit(url != sys.argv[1])
EOF
}

install_package() {  # $1 = extra ("" for the package alone)
  local extra="${1:-}" stamp="$ENV_PREFIX/.prodsched-install" key
  local have_key="" have_extras="" new_extra=""
  key="$(install_key)"
  if [ -f "$stamp" ]; then { read -r have_key; read -r have_extras; } <"$stamp" || true; fi
  if [ -n "$extra" ] && [[ " $have_extras " != *" $extra "* ]]; then
    have_extras="${have_extras:+$have_extras }$extra"
    new_extra=1
  fi
  if [ "$key" != "$have_key" ] || ! installed_here; then
    # the extras installed before stay installed (and up to date)
    local extras="${have_extras// /,}"
    say "installing prodsched${extras:+[$extras]} (editable, from $ROOT) into $ENV_PREFIX"
    rm -f "$stamp"
    (cd "$ENV_PREFIX" &&
       "$PY" -m pip install -q --disable-pip-version-check -e "$ROOT${extras:+[$extras]}") ||
      die "pip could not install prodsched${extras:+[$extras]} into $ENV_PREFIX"
    if [ -z "$(find "$ROOT/prodsched/engine/_native" -name '*.so' -print -quit)" ]; then
      say "the compiled engine was not built (it needs g++ and Python's headers, on Debian:" \
          "apt-get install g++ python3-dev); the pure-Python engine runs: same schedules, slower"
    fi
  elif [ -n "$new_extra" ]; then
    # The package is installed from here as it is: only the extra's requirements are missing,
    # and pip takes them from the installed metadata without building the package again.
    say "installing the [$extra] requirements of prodsched into $ENV_PREFIX"
    (cd "$ENV_PREFIX" && "$PY" -m pip install -q --disable-pip-version-check "prodsched[$extra]") ||
      die "pip could not install the [$extra] requirements of prodsched into $ENV_PREFIX"
  else
    return 0
  fi
  printf '%s\n%s\n' "$(install_key)" "$have_extras" >"$stamp"
}
