"""Container healthcheck: exit 0 when the URL answers 200, else 1 (stdlib only, no curl)."""

import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:9810/metrics"


def main() -> int:
    url = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL
    try:
        with urllib.request.urlopen(url, timeout=8) as response:  # noqa: S310 - fixed local URL
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        sys.stderr.write(f"{url}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
