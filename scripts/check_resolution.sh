#!/usr/bin/env bash
# Does the package resolve on other Pythons? `pip install --dry-run` of tiktok-dm and its extras for CPython 3.10,
# 3.12 and 3.13 on manylinux x86_64 (wheels only, as a machine with that Python would get them), with the ranges of
# pyproject.toml alone and with constraints.txt (the tested set). Needs the package registry, not those Pythons.
#   bash scripts/check_resolution.sh                 # all extras but test, 3.10 3.12 3.13
#   bash scripts/check_resolution.sh 3.13            # one version
# Prints one line per case (what mediapipe, torch and numpy resolve to) and exits 1 if any case fails; the pip
# log of each case is kept in ${LOGS:-/tmp/tdm-resolution}/.
set -uo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
versions=("$@")
[ "${#versions[@]}" -gt 0 ] || versions=(3.10 3.12 3.13)
logs=${LOGS:-/tmp/tdm-resolution}
mkdir -p "$logs"
# Every manylinux tag an x86_64 glibc 2.39 machine accepts: the torch wheels' CUDA libraries carry several.
platforms=(--platform linux_x86_64)
for tag in manylinux1 manylinux2010 manylinux2014 $(printf 'manylinux_2_%s ' $(seq 5 39)); do
  platforms+=(--platform "${tag}_x86_64")
done
failed=0
for version in "${versions[@]}"; do
  for constraints in none constraints.txt; do
    name="py${version}-${constraints%.txt}"
    args=(--dry-run --ignore-installed --quiet --report "$logs/$name.json" --target "$logs/target-$name"
          --only-binary=:all: --python-version "$version" "${platforms[@]}")
    [ "$constraints" = none ] || args+=(-c "$constraints")
    if "$python" -m pip install "${args[@]}" ".[audio,pose,annotate,train]" >"$logs/$name.log" 2>&1; then
      picked=$("$python" -c 'import json, sys
found = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.load(open(sys.argv[1]))["install"]}
print(" ".join(f"{n} {found.get(n, chr(45))}" for n in ("mediapipe", "torch", "torchcodec", "numpy", "opencv-contrib-python")))' "$logs/$name.json")
      echo "Python $version, constraints: $constraints: resolves ($picked)"
    else
      echo "Python $version, constraints: $constraints: FAILS (log: $logs/$name.log)"
      tail -5 "$logs/$name.log" | sed 's/^/    /'
      failed=1
    fi
  done
done
exit "$failed"
