"""The dashboard's files: HTML pages, scripts, styles and vendored Chart.js, in ``static/``.

The routes that serve them live in ``llmgate.server.routes.ui``; this package only says where
the files are, so they ship inside the wheel and are found wherever llmgate is installed.

A page is ``static/NAME.html`` with its script ``static/NAME.js``; it loads ``common.js``
(navigation, the time-range picker, fetching with visible errors, formatting) and ``app.css``.
See ``static/vendor/README.md`` for the vendored library's version and source.
"""

from __future__ import annotations

from pathlib import Path


def static_dir() -> Path:
    """The directory of the dashboard's static files."""
    return Path(__file__).resolve().parent / "static"
