"""Guardian: renders pages in headless Chromium and finds what makes them scroll sideways.

Needs the ``guardian`` extra (``pip install trinity-core[guardian]``) and a Chromium. Importing
this module never imports Playwright; :class:`Guardian` does, and says how to install what is
missing.

    >>> from trinity_core.guardian import Guardian
    >>> with Guardian() as g:
    ...     result = g.heal("site/index.html")  # or a URL, or heal(html, base_url="site/")
    ...     result.clean, len(result.fixes)

In asyncio code (``Guardian`` refuses to run inside a running event loop)::

    async with AsyncGuardian() as g:
        results = await asyncio.gather(*(g.heal(p) for p in pages))

Pages load as a browser loads them (stylesheets, images and fonts from the page's own site, the
rest of the network off). A page that fits at every width comes back unchanged; a page that
overflows gets targeted rules scoped to its failing widths. ``overflow-x:hidden`` on ``html`` or
``body`` is never added: a page that hides overflow that way is reported as masked.
"""

from __future__ import annotations

from ._async import AsyncGuardian
from ._load import VIRTUAL_ORIGIN
from ._shared import (
    DEFAULT_WIDTHS,
    MOBILE_BELOW,
    GuardianError,
    HealResult,
    Report,
    WidthReport,
    find_chromium,
)
from ._sync import Guardian

__all__ = [
    "DEFAULT_WIDTHS",
    "MOBILE_BELOW",
    "VIRTUAL_ORIGIN",
    "AsyncGuardian",
    "Guardian",
    "GuardianError",
    "HealResult",
    "Report",
    "WidthReport",
    "find_chromium",
]
