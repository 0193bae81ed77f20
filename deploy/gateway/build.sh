#!/usr/bin/env bash
# Builds the gateway image without any registry, and without a package index inside the build:
# the `server` extra's packages are installed here with this machine's pip (`--target`, so its
# index settings apply), then copied in on top of the runner base image (deploy/runner-base).
#
#   deploy/gateway/build.sh [IMAGE]        (default: wharf-gateway:latest)
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${1:-wharf-gateway:latest}
python=${PYTHON:-python3}

context=$(mktemp -d /tmp/wharf-gateway.XXXXXX)
trap 'rm -rf "$context"' EXIT

"$python" deploy/requirements.py server >"$context/requirements.txt"
"$python" -m pip install --quiet --no-compile --target "$context/site-packages" \
    -r "$context/requirements.txt"
mkdir -p "$context/wharf"
tar --exclude=__pycache__ -c -C gateway wharf_gateway -C ../runner wharf_runner -C ../client wharf \
    | tar -x -C "$context/wharf"
cp -r static "$context/wharf/wharf_gateway/static"
cp deploy/gateway/Dockerfile "$context/Dockerfile"
docker build --quiet --tag "$image" "$context" >/dev/null
echo "built $image"
