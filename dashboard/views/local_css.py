"""Panel's stylesheets come from this server, never from its CDN: the dashboard works offline.

Panel gives the models it makes ``ImportedStyleSheet``s at CDN addresses and rewrites each (``patch_stylesheet``) to
the document's ``dist_url``, a template variable its server sets only when it renders the page's HTML. Where a
document has no ``dist_url`` yet, or Panel has no document at hand (a component rendered on its own gets a fresh
one: ``Viewable.get_root``), it "rewrites" to the CDN. The browser then asks cdn.holoviz.org for the sheet, and
offline the page is unstyled. Two red CI runs saw it, only on a loaded machine: loading.css, then the Bootstrap
design's sheets (bootstrap.min.css, theme/bootstrap*.css).

Two measures, for a process that serves the dashboard (``create_app``; a notebook is left as Panel makes it):
each session's document gets its ``dist_url`` as it is built, and Panel's fallback to the CDN in ``patch_stylesheet``
becomes this server's own dist path (the current document's ``dist_url`` when it has one). Panel resolves resources
from its CDN only in ``resources='cdn'`` mode, which this leaves alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import panel.io.resources as resources
import panel.reactive as reactive
from bokeh.document import Document
from panel.io.state import state

MODULES = (resources, reactive)  # those that call patch_stylesheet by a name of their own (theme.base imports it
# from panel.io.resources at each call)


def keep_css_local(doc: Document | None) -> None:
    """Point ``doc``'s Panel stylesheets at this server, and every stylesheet Panel would point at its CDN."""
    if doc is not None:
        doc._template_variables.setdefault("dist_url", resources.get_dist_path(cdn=False))
    for module in MODULES:
        if not getattr(module.patch_stylesheet, "indexlab_local", False):
            module.patch_stylesheet = _local_fallback(module.patch_stylesheet)


def this_servers_dist() -> str:
    doc = state.curdoc
    if doc is not None and not str(doc._template_variables.get("dist_url", resources.CDN_DIST)).startswith("http"):
        return doc._template_variables["dist_url"]
    return resources.get_dist_path(cdn=False)


def _local_fallback(original: Callable[[Any, str], None]) -> Callable[[Any, str], None]:
    @functools.wraps(original)
    def patch_stylesheet(stylesheet: Any, dist_url: str) -> None:
        if dist_url == resources.CDN_DIST and not resources.use_cdn():
            dist_url = this_servers_dist()
        original(stylesheet, dist_url)

    patch_stylesheet.indexlab_local = True  # type: ignore[attr-defined]
    return patch_stylesheet
