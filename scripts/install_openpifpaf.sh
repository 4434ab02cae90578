#!/usr/bin/env bash
# Install openpifpaf 0.13.11 (multi-person pose backend) into ./.venv, built from its sdist.
#   bash scripts/install_openpifpaf.sh
# Why not `pip install openpifpaf`: there is no cp311 wheel, and the sdist pins torch==1.13.1 in its build
# requirements and install_requires, and its setup.py hard-codes -std=c++17, which torch >= 2.10 headers
# reject ("#error C++20 or later compatible compiler is required to use ATen."). So this script:
#   1. downloads the sdist only (no deps, no binaries; --no-build-isolation, else pip tries to install
#      the sdist's build requirement torch==1.13.1 just to read its metadata),
#   2. patches two things newer libraries broke: -std=c++17 -> -std=c++20 in its setup.py, and
#      matplotlib.cm.get_cmap (removed in matplotlib 3.9; openpifpaf calls it at import) ->
#      matplotlib.colormaps.get_cmap,
#   3. builds a wheel against the torch already in .venv (--no-build-isolation --no-deps) and installs it,
#   4. installs the few runtime dependencies it needs that the venv lacks, explicitly.
# Needs a C++ compiler (g++) and the torch + torchvision of scripts/install.sh. The compile took 9 and
# 23 min on 2 shared cores (load 5-12); the wheel is kept (see wheel_cache below), so installing it
# again, into this or a new venv, takes about a minute.
# Idempotent: does nothing when `import openpifpaf` already works in .venv (--force: rebuild and
# reinstall anyway, e.g. after a torch upgrade; the installed copy stays usable until the end).
set -euo pipefail
cd "$(dirname "$0")/.."

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    *) echo "unknown option $arg (use --force)" >&2; exit 2 ;;
  esac
done

version=${OPENPIFPAF_VERSION:-0.13.11}
py=.venv/bin/python
[ -x "$py" ] || { echo "no .venv: run scripts/install.sh first" >&2; exit 2; }
pip=("$py" -m pip --disable-pip-version-check)

if [ "$force" = 0 ] && installed=$("$py" -c "import openpifpaf; print(openpifpaf.__version__)" 2>/dev/null); then
  echo "== openpifpaf $installed already installed"
  exit 0
fi
"$py" -c "import torch, torchvision" \
  || { echo "openpifpaf needs torch and torchvision in .venv (scripts/install.sh)" >&2; exit 2; }
command -v "${CXX:-g++}" >/dev/null || { echo "openpifpaf compiles a C++ extension: install g++" >&2; exit 2; }

# Runtime dependencies of openpifpaf 0.13.11 besides torch/torchvision/numpy/pillow (already in the
# venv): python-json-logger (its logging), pysparkling (only its eval tools use it; cheap to have),
# scipy (some transforms), matplotlib (imported by its visualizer package at import time).
echo "== pip: openpifpaf runtime dependencies"
"${pip[@]}" install --quiet python-json-logger pysparkling scipy matplotlib

# The built wheel is kept (default ~/.cache/tiktok_dm/wheels, or $TIKTOK_DM_WHEEL_CACHE): a new venv
# (or CI with that folder cached) installs it in seconds instead of compiling again.
wheel_cache=${TIKTOK_DM_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tiktok_dm/wheels}
mkdir -p "$wheel_cache"
torch_tag=$("$py" -c 'import torch; print(torch.__version__.split("+")[0])')
# The patches are part of the key: a wheel built with other patches is not reused.
patches=cxx20-colormaps
wheel_dir="$wheel_cache/openpifpaf-$version-$patches-torch$torch_tag"
wheel=$(ls "$wheel_dir"/openpifpaf-"$version"-*.whl 2>/dev/null | head -n 1 || true)

if [ -z "$wheel" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "== pip download openpifpaf==$version (sdist)"
  "${pip[@]}" download --quiet --no-deps --no-build-isolation --no-binary :all: -d "$work" "openpifpaf==$version"
  sdist=$(ls "$work"/openpifpaf-*.tar.gz)
  tar -xzf "$sdist" -C "$work"
  src="$work/openpifpaf-$version"
  [ -f "$src/setup.py" ] || { echo "unexpected sdist layout in $sdist" >&2; exit 1; }
  grep -q -- '-std=c++17' "$src/setup.py" \
    || echo "warning: -std=c++17 not found in setup.py (already patched upstream?)" >&2
  sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  grep -rl --include='*.py' 'get_cmap' "$src/src" | xargs sed -i -E \
    -e 's/(matplotlib\.cm|mplcm)\.get_cmap\(/matplotlib.colormaps.get_cmap(/g' \
    -e 's/^([[:space:]]*)import matplotlib\.cm as mplcm$/\1import matplotlib, matplotlib.cm as mplcm/'
  if grep -rq --include='*.py' -E '(matplotlib\.cm|mplcm)\.get_cmap\(' "$src/src"; then
    echo "patching matplotlib.cm.get_cmap failed" >&2; exit 1
  fi

  echo "== building openpifpaf $version against torch $torch_tag (10-15 min on 2 busy cores)"
  start=$(date +%s)
  "${pip[@]}" wheel --no-build-isolation --no-deps -w "$work/dist" "$src"
  mkdir -p "$wheel_dir"
  cp "$work"/dist/openpifpaf-"$version"-*.whl "$wheel_dir"/
  wheel=$(ls "$wheel_dir"/openpifpaf-"$version"-*.whl | head -n 1)
  echo "== built $(basename "$wheel") in $(( $(date +%s) - start )) s (kept in $wheel_dir)"
else
  echo "== using the wheel built earlier: $wheel"
fi

"${pip[@]}" install --quiet --no-deps --force-reinstall "$wheel"
"$py" -c "import openpifpaf; print('== openpifpaf', openpifpaf.__version__, 'ready in .venv')"
