#!/usr/bin/env bash
# Start `wharf server` on the embedded defaults, deploy examples/hello.py, print a curl line.
# The server keeps running in the foreground; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${WHARF_PORT:-8000}"
# A port something else holds would make the server fail, and the deploy below would then go to
# whatever answers there: say so, and how to choose another, before starting anything.
if ! python - "$port" <<'PY'
import socket
import sys

with socket.socket() as probe:
    try:
        probe.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
then
    echo "error: port $port on 127.0.0.1 is taken; choose another with WHARF_PORT, e.g. WHARF_PORT=8001 make run" >&2
    exit 1
fi

wharf server --port "$port" &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
    if python -c "import httpx, sys; httpx.get('http://127.0.0.1:$port/v1/health')" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "error: the server did not start (see above)" >&2
        exit 1
    fi
    sleep 0.1
done

wharf deploy examples/hello.py
python - <<'PY'
from wharf._config import load_credentials

credentials = load_credentials()
print()
print("Call it from anywhere:")
print(
    f"  curl -s -X POST -H 'Authorization: {credentials.authorization}' "
    f"-d '{{\"args\": [42]}}' {credentials.server_url}/v1/apps/hello/functions/square/calls"
)
print("Or from Python: Function.from_name('hello', 'square').remote(42)")
token = credentials.authorization.removeprefix("Bearer ")
print(f"The dashboard: {credentials.server_url}/ (sign in with the token {token})")
print("Press Ctrl-C to stop the server.")
PY
wait "$server"
