#!/usr/bin/env bash
# Does the package resolve on other Pythons? `pip install --dry-run` of tiktok-dm with its extras, run by a real
# CPython 3.10, 3.12 and 3.13 (pip evaluates the `python_version` markers, mediapipe's among them, against the
# interpreter that runs it, so `--python-version` on another Python would not do), with the ranges of
# pyproject.toml alone and with constraints.txt (the tested set). Needs the package registry and those
# interpreters: `python3.X` on PATH or pyenv's ($PYENV_ROOT/versions/3.X.*).
#   bash scripts/check_resolution.sh                 # 3.10 3.12 3.13
#   bash scripts/check_resolution.sh 3.13            # one version
# Prints one line per case (what mediapipe, LiteRT, protobuf, torch, torchcodec, numpy and OpenCV resolve to) and
# exits 1 if a case fails or its Python is missing; each case's pip log and report stay in ${LOGS:-/tmp/tdm-resolution}/.
set -uo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ "${#versions[@]}" -gt 0 ] || versions=(3.10 3.12 3.13)
logs=${LOGS:-/tmp/tdm-resolution}
mkdir -p "$logs"
interpreter() {
  local found
  found=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python 2>/dev/null | sort -V | tail -1)
  [ -n "$found" ] && { echo "$found"; return; }
  command -v "python$1"
}
failed=0
for version in "${versions[@]}"; do
  python=$(interpreter "$version") || { echo "Python $version: no interpreter found"; failed=1; continue; }
  for constraints in none constraints.txt; do
    name="py${version}-${constraints%.txt}"
    args=(--dry-run --ignore-installed --disable-pip-version-check --report "$logs/$name.json")
    [ "$constraints" = none ] || args+=(-c "$constraints")
    if "$python" -m pip install "${args[@]}" ".[audio,pose,annotate,train]" >"$logs/$name.log" 2>&1; then
      picked=$("$python" -c 'import json, sys
found = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.load(open(sys.argv[1]))["install"]}
print(", ".join(f"{n} {found.get(n, chr(45))}" for n in ("mediapipe", "ai-edge-litert", "protobuf", "torch", "torchcodec", "numpy",
                                                       "opencv-contrib-python", "opencv-python-headless")))' "$logs/$name.json")
      echo "Python $("$python" -c 'import platform; print(platform.python_version())'), constraints: $constraints: resolves ($picked)"
    else
      echo "Python $version, constraints: $constraints: FAILS (log: $logs/$name.log)"
      grep -v "^WARNING: Location" "$logs/$name.log" | tail -8 | sed 's/^/    /'
      failed=1
    fi
  done
done
exit "$failed"
