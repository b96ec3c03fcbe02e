"""The image's HEALTHCHECK: GET covetpy's --health-path on its own port, from inside the container.

The runtime image has no curl; its Python (needed anyway, it is what covetpy runs) does the request.
It reads the same COVETPY_* variables covetpy reads its options from, so it probes what the server
was told to serve: COVETPY_PORT, COVETPY_HEALTH_PATH and, when COVETPY_SSL_CERTFILE is set, HTTPS
(without verifying the certificate: the request goes to 127.0.0.1, which it does not name).
Exit status 0 is healthy, 1 unhealthy, as Docker expects.
"""

import os
import ssl
import sys
import urllib.request


def main() -> int:
    path = os.environ.get("COVETPY_HEALTH_PATH", "")
    if not path.startswith("/"):
        print("COVETPY_HEALTH_PATH is not set to a path: nothing to probe", file=sys.stderr)
        return 1
    port = os.environ.get("COVETPY_PORT", "8000")
    context = None
    scheme = "http"
    if os.environ.get("COVETPY_SSL_CERTFILE"):
        scheme = "https"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    url = f"{scheme}://127.0.0.1:{port}{path}"
    try:
        # The scheme is http or https, fixed above: never a file: URL.
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
            status = response.status
    except OSError as error:  # URLError, HTTPError (a non-2xx answer) and timeouts
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
