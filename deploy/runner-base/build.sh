#!/usr/bin/env bash
# Builds the runner base image without any registry: debootstrap a minimal Debian 12 with its
# python3 (3.11), add the Python packages the Wharf runtime needs (`deploy/requirements.py runtime`)
# with this machine's pip (`--target`, so its index settings and CA bundle apply), and `docker
# import` the tree.
#
#   deploy/runner-base/build.sh [IMAGE]        (default: wharf-runner-base:latest; needs root)
#
# WHARF_EXTRAS="runtime ..." adds more of the distribution's extras. The gateway's image
# (deploy/gateway/build.sh) adds the `server` extra on top of this base by itself.
#
# Where a registry is reachable, `docker build -t wharf-runner-base deploy/runner-base` builds the
# same image from python:3.11-slim instead. The gateway adds Wharf's own code on top of either.
set -euo pipefail
cd "$(dirname "$0")/../.."

image=${1:-wharf-runner-base:latest}
python=${PYTHON:-python3}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
extras=${WHARF_EXTRAS:-runtime}

# The packages must suit Debian 12's Python 3.11: build them with a 3.11.
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "needs Python 3.11"'

root=$(mktemp -d /tmp/wharf-runner-base.XXXXXX)
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase --include=python3,python3-pip,ca-certificates bookworm "$root" "$mirror" >/dev/null
# What the agent inside containers imports: the SDK's dependencies and the `runtime` extra's
# (not the gateway's, unless asked: deploy/gateway/build.sh adds those to its own image).
# shellcheck disable=SC2086 # several extras are several words
"$python" deploy/requirements.py $extras >"$root/requirements.txt"
"$python" -m pip install --quiet --no-compile --target "$root/usr/local/lib/python3.11/dist-packages" \
    -r "$root/requirements.txt"
# Bytecode now, by the image's own Python: containers cannot write it (their root is read-only),
# and compiling every import at each start would cost a cold start hundreds of milliseconds.
chroot "$root" python3 -m compileall -q -j 0 /usr/local/lib/python3.11/dist-packages /usr/lib/python3.11 \
    >/dev/null || true
rm -rf "$root/requirements.txt" "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
# Containers run as this unprivileged user, with /tmp as their only writable place.
chroot "$root" useradd --uid 1000 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin wharf

tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 HOME=/tmp PIP_BREAK_SYSTEM_PACKAGES=1' \
    --change 'USER 1000:1000' \
    --change 'WORKDIR /tmp' \
    --change 'CMD ["python3"]' \
    - "$image" >/dev/null
echo "built $image"
