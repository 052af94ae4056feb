"""The image's HEALTHCHECK: exit 0 when the service in this container answers /livez with 200.

Liveness, not readiness: a service whose broker or database is away is alive and waiting, and
restarting it would not bring them back (Kubernetes asks /readyz separately). The base image has no
shell and no curl, so the interpreter asks. Standard library only.
"""

import os
import sys
import urllib.error
import urllib.request

port = os.environ.get("HOERA_HTTP_PORT", "8000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except (OSError, urllib.error.URLError) as exc:
    print(f"livez: {exc}", file=sys.stderr)
    sys.exit(1)
