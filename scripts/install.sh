#!/usr/bin/env bash
# Install tiktok-dm into ./.venv on a fresh machine (Debian/Ubuntu, Python >= 3.10).
#   bash scripts/install.sh          # the pipeline: `pip install -e ".[audio,pose,annotate,train]"` with the tested
#                                    # versions of constraints.txt (torch + torchcodec for audio columns, mediapipe,
#                                    # ffmpeg from imageio-ffmpeg), then the pose landmarker's model bundle
#   bash scripts/install.sh --test   # ... plus pytest, the Debian music and speech packages, headless Chromium,
#                                    #     Label Studio and openpifpaf
#   bash scripts/install.sh --bench  # ... the Debian packages the benchmarks in bench/ read (no test tools), with
#                                    #     the held-out music of bench/segment.py
#   bash scripts/install.sh --openpifpaf   # the pipeline plus the openpifpaf pose backend (compiles once)
# Re-running it is cheap: installed pieces are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
with_bench=0
with_openpifpaf=0
with_held_out_music=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test=1; with_bench=1; with_openpifpaf=1 ;;
    --bench) with_bench=1; with_held_out_music=1 ;;
    --openpifpaf) with_openpifpaf=1 ;;
    *) echo "unknown option $arg (use --test, --bench or --openpifpaf)" >&2; exit 2 ;;
  esac
done

sudo_cmd=""
if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi

apt_packages=()
want_package() { dpkg -s "$1" >/dev/null 2>&1 || apt_packages+=("$1"); }
# OpenCV's contrib build (mediapipe's cv2) loads libGL and GLib; minimal images lack them.
ldconfig -p | grep -q 'libGL.so.1 ' || want_package libgl1
ldconfig -p | grep -q 'libgthread-2.0.so.0 ' || want_package libglib2.0-0
if [ "$with_bench" = 1 ]; then
  # The build runs imageio-ffmpeg's ffmpeg; the tests' and benchmarks' synthetic compilations are drawn with a full
  # ffmpeg (its drawtext filter), and the comparisons with ffprobe read the system's.
  command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_packages+=(ffmpeg)
  # Real music for the tests and benchmarks: Wesnoth's soundtrack (GPL-2+, see
  # /usr/share/doc/wesnoth-1.16-music/copyright) and SuperTux's (calibration songs of bench/songs.py);
  # espeak-ng speaks the talking that bench/songs.py mixes over the music.
  want_package wesnoth-1.16-music
  want_package supertux-data
  want_package espeak-ng
fi
if [ "$with_held_out_music" = 1 ]; then
  # bench/segment.py --split held_out: music of other collections and genres than the calibration's Wesnoth
  # (electronic, ambient, folk/chiptune; GPL/CC licences in /usr/share/doc/<package>/copyright).
  want_package warzone2100-music
  want_package singularity-music
  want_package hyperrogue-music
  # bench/segment.py --split held_out_b: rock and metal songs with vocals, an adventure game's score.
  want_package fretsonfire-songs-muldjord
  want_package fretsonfire-songs-sectoid
  want_package drascula-music
  # bench/segment.py --split held_out_c: electronic/metal, an orchestral film score, a children's game's pop and jazz.
  want_package nexuiz-music
  want_package ufoai-music
  want_package planetblupi-music-ogg
  # bench/segment.py --split held_out_d: the music of three more games' data packages.
  want_package hedgewars-data
  want_package extremetuxracer-data
  want_package xmoto-data
  # bench/segment.py --split held_out_e: science fiction and world-music game soundtracks.
  want_package freedroidrpg-data
  want_package megaglest-data
fi
if [ "$with_test" = 1 ]; then
  # The report screenshot test drives headless Chromium through selenium.
  want_package chromium
  want_package chromium-driver
fi
if [ "${#apt_packages[@]}" -gt 0 ]; then
  echo "== apt-get install ${apt_packages[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

extras="audio,pose,annotate,train"
[ "$with_test" = 1 ] && extras="$extras,test"
# The declarations of pyproject.toml, at the tested versions of constraints.txt (torch, torchvision and torchcodec
# released together; mediapipe 0.10.14 up to Python 3.12, 1.x from 3.13). torchvision: for openpifpaf.
echo "== pip: tiktok-dm[$extras] with constraints.txt"
"${pip[@]}" -c constraints.txt -e ".[$extras]" torchvision
# The landmarker backend's model bundle, once per machine (tiktok-dm pose-model --help): written from the models
# mediapipe 0.10.14 ships, else downloaded from Google's release. (A build does the same on first use.)
bundle=$(.venv/bin/python -c 'from tiktok_dm.pose.landmarker_model import default_landmarker_path as p; print(p())')
if [ ! -f "$bundle" ]; then
  echo "== pose model: $bundle"
  .venv/bin/tiktok-dm pose-model --from-package 2>/dev/null || .venv/bin/tiktok-dm pose-model \
    || echo "warning: no pose landmarker bundle; the landmarker backend will say how to supply one" >&2
fi
# MoveNet.MultiPose (the movenet backend: clips the manifest gives several dancers), fetched when online. Offline a
# build of such clips stops before any work and names the file to copy in.
movenet=$(.venv/bin/python -c 'from tiktok_dm.pose.movenet_backend import default_movenet_path as p; print(p())')
if [ ! -f "$movenet" ]; then
  echo "== pose model: $movenet"
  .venv/bin/tiktok-dm pose-model --movenet 2>/dev/null \
    || echo "warning: MoveNet's model could not be fetched (offline?); clips of several dancers need it" >&2
fi
if [ "$with_test" = 1 ]; then
  # The annotation tests run a real Label Studio server; it lives in its own venv because its pins
  # (Django, its own label-studio-sdk) differ from ours.
  if [ ! -x .venv-ls/bin/label-studio ]; then
    echo "== pip: Label Studio server in .venv-ls (for the annotation tests)"
    "$python" -m venv .venv-ls
    .venv-ls/bin/python -m pip install --quiet --disable-pip-version-check "label-studio==1.23.2"
  fi
fi
if [ "$with_openpifpaf" = 1 ]; then
  bash scripts/install_openpifpaf.sh
fi
# yt-dlp[default,deno] (pyproject): the ejs scripts and the JS runtime YouTube's player challenges need.
.venv/bin/python -c "import mediapipe.tasks.python.vision, torchcodec, datasets, ray, yt_dlp, yt_dlp_ejs, deno; deno.find_deno_bin()" \
  && echo "== installed: $(.venv/bin/tiktok-dm --help >/dev/null && echo 'tiktok-dm ready in .venv')"
