"""The browser that prints the report's PDF: any Chrome, Chromium or Edge, wherever this machine has one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# CHROME=/path/to/one first, then these names on the PATH, then the macOS application bundles (in /Applications or
# ~/Applications).
NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "microsoft-edge",
    "microsoft-edge-stable",
    "msedge",
)
MACOS_BUNDLES = (
    "Google Chrome.app/Contents/MacOS/Google Chrome",
    "Chromium.app/Contents/MacOS/Chromium",
    "Microsoft Edge.app/Contents/MacOS/Microsoft Edge",
)
NO_BROWSER = (
    "no Chrome, Chromium or Edge found to print the PDF: install one (Debian/Ubuntu: apt-get install "
    "chromium) or set CHROME=/path/to/it"
)


def find() -> str | None:
    """A Chromium-family browser to print the PDF with (``CHROME``, the PATH, macOS applications), or None."""
    if given := os.environ.get("CHROME"):
        return shutil.which(given)
    for name in NAMES:
        if path := shutil.which(name):
            return path
    for folder in (Path("/Applications"), Path.home() / "Applications"):
        for bundle in MACOS_BUNDLES:
            if os.access(folder / bundle, os.X_OK):
                return str(folder / bundle)
    return None
