#!/usr/bin/env bash
# Install the system packages vidcap needs, only when they are missing.
set -euo pipefail
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)  # METEOR (pycocoevalcap)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)  # test speech for subtitles
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the browser test of `vidcap serve` (Playwright drives it)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
