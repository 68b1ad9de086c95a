"""The image's HEALTHCHECK: GET /health on the port `memo serve` listens on (MEMO_HOST, MEMO_PORT); exit 0 on 200."""
import os
import sys
import urllib.request

host = os.environ.get("MEMO_HOST", "127.0.0.1")
host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
url = f"http://{f'[{host}]' if ':' in host else host}:{os.environ.get('MEMO_PORT', '8000')}/health"
try:
    with urllib.request.urlopen(url, timeout=float(os.environ.get("MEMO_HEALTH_TIMEOUT_S", "4"))) as reply:
        sys.exit(0 if reply.status == 200 else 1)
except Exception as error:  # noqa: BLE001  (any failure is "unhealthy", said on stderr)
    print(f"{url}: {error}", file=sys.stderr)
    sys.exit(1)
