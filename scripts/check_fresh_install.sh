#!/usr/bin/env bash
# The ordinary install, as a new user does it: a fresh venv, a plain `pip install .` (no install script, no
# constraints), then `tiktok-dm demo` with no ffmpeg or ffprobe on PATH and an empty model cache (the pose
# landmarker's bundle is written on first use, offline). CI runs it after the tests.
#   bash scripts/check_fresh_install.sh            # in a temporary folder, removed afterwards
#   KEEP=1 bash scripts/check_fresh_install.sh     # keep the folder (venv, demo output, logs)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
work=$(mktemp -d -t tdm-fresh-XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
started=$(date +%s)
"$python" -m venv "$work/venv"
echo "== fresh venv ($("$work/venv/bin/python" --version)): pip install ."
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check . >"$work/pip.log" 2>&1 \
  || { tail -20 "$work/pip.log"; echo "pip install . failed (log: $work/pip.log)" >&2; exit 1; }
installed=$(date +%s)
# A PATH with every tool of this machine except ffmpeg and ffprobe: the build must not need them.
mkdir "$work/bin"
for tool in /usr/local/bin/* /usr/bin/* /bin/*; do
  name=$(basename "$tool")
  case "$name" in ffmpeg|ffprobe|ffplay) continue ;; esac
  [ -e "$work/bin/$name" ] || ln -s "$tool" "$work/bin/$name"
done
echo "== tiktok-dm demo (no ffmpeg on PATH, empty TIKTOK_DM_CACHE)"
env PATH="$work/venv/bin:$work/bin" TIKTOK_DM_CACHE="$work/cache" \
  "$work/venv/bin/tiktok-dm" demo --out "$work/demo" --no-progress >"$work/demo.log" 2>&1 \
  || { tail -30 "$work/demo.log"; echo "tiktok-dm demo failed (log: $work/demo.log)" >&2; exit 1; }
sed -n '/manifest row(s)/p; /^failures:/p' "$work/demo.log"
grep -q "4 manifest row(s): 4 ok" "$work/demo.log" && grep -q "^failures: 0" "$work/demo.log" \
  || { tail -30 "$work/demo.log"; echo "the demo did not build all 4 clips" >&2; exit 1; }
echo "== fresh install ok: pip install . $((installed - started)) s, demo $(( $(date +%s) - installed )) s"
