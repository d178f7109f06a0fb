"""How the dashboard's browser tests (and the screenshot script) launch Debian's chromium.

Never a downloaded browser; flags that keep a headless chromium quiet on a machine with no network
beyond loopback (no background connections, no first-run work, no sandbox as root).
"""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
