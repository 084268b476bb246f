#!/usr/bin/env bash
# Interleaved A/B of idle-worker dispatch latency between two builds of the server:
#   bench/tools/latency-ab.sh DIST_A DIST_B [ROUNDS]
# DIST_A/DIST_B are copies of dist/ built from the two versions. dist/ is put back as it was at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
a=$1 b=$2 rounds=${3:-3}
saved=$(mktemp -d)
cp -r dist "$saved/dist"
trap 'rm -rf dist && cp -r "$saved/dist" dist && rm -rf "$saved"' EXIT
for i in $(seq "$rounds"); do
  for v in "$a" "$b"; do
    rm -rf dist && cp -r "$v" dist
    echo "== $v round $i, load $(cut -d' ' -f1 /proc/loadavg)"
    npx tsx bench/tools/latency-ab.ts
  done
done
