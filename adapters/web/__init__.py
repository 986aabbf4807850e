"""The chat's web page, shipped in the package: one HTML page, its CSS, its JavaScript, its icon.

No build step and nothing fetched from elsewhere: the files here are what
the browser gets, served from memory by the HTTP layer.
"""

from __future__ import annotations

from importlib import resources

from ..transport import CONTENT_TYPES, Site


def load_site() -> Site:
    """Every page file of this folder, read once (the Python files are not served)."""
    folder = resources.files(__name__)
    files = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and "." in entry.name and entry.name[entry.name.rfind(".") :] in CONTENT_TYPES
    }
    return Site(files)
