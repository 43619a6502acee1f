#!/usr/bin/env bash
# Builds unpacked Lambda task roots the way the bundler does, for run_e2e.py:
#   OUTDIR/random-name       index.js, package.json, package-lock.json + node_modules (npm ci)
#   OUTDIR/scorekeep-worker  lambda_function.py + its locked dependencies, without the
#                            packages the Lambda runtime provides (boto3, botocore,
#                            s3transfer, jmespath, python-dateutil, six)
# Usage: functions/e2e/prepare_task_roots.sh OUTDIR
# PYTHON (default python3) is the interpreter whose platform the wheels are chosen
# for: use the one that will run the e2e test (a real bundle targets the Lambda runtime).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
out=$1
python=${PYTHON:-python3}

node_root="$out/random-name"
rm -rf "$node_root"
mkdir -p "$node_root"
cp "$here/random-name/index.js" "$here/random-name/package.json" \
   "$here/random-name/package-lock.json" "$node_root/"
(cd "$node_root" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)

py_root="$out/scorekeep-worker"
rm -rf "$py_root"
mkdir -p "$py_root"
filtered=$(mktemp)
trap 'rm -f "$filtered"' EXIT
# Drop each runtime-provided requirement together with its --hash continuation lines.
awk '
  /^[A-Za-z0-9]/ {
    name = tolower($0); sub(/[=<>!~ ;\\].*/, "", name); gsub(/_/, "-", name)
    skip = (name == "boto3" || name == "botocore" || name == "s3transfer" ||
            name == "jmespath" || name == "python-dateutil" || name == "six")
  }
  !skip
' "$here/scorekeep-worker/requirements.txt" > "$filtered"
# --no-compile: .pyc files for the local interpreter are of no use in a bundle.
PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
  --no-compile --target "$py_root" -r "$filtered"
cp "$here/scorekeep-worker/lambda_function.py" "$py_root/"

echo "task roots ready: $node_root $py_root"
