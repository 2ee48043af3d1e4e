"""The evidence view at 1280 px (issue #17): values per type, whole words, nothing clipped, hostile text as text, and
the outcome of the batch the operator clicked in, named."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import watch
from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.polling import wait_until
from tests.support.summary import SummaryServer, assert_clean, serve_summary, text

pytestmark = pytest.mark.browser
JOB = Path(__file__).parent / "jobs" / "evidence_job.py"
SNIPPET_JOB = Path(__file__).parents[1] / "integration" / "jobs" / "snippet_job.py"
CATALOG = numbered_rows(2, ("Logitech",), id_format="p{:02d}")

FITS = """() => {
  const all = (root, out = []) => { out.push(...root.querySelectorAll('table.fields'));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) all(el.shadowRoot, out); return out; };
  return all(document).map(t => ({right: t.getBoundingClientRect().right, view: window.innerWidth,
    over: t.scrollWidth - t.parentElement.clientWidth,
    wrap: getComputedStyle(t.querySelector('td.fval') || t).overflowWrap}));
}"""


@pytest.fixture
def app(tmp_path) -> Iterator[SummaryServer]:
    yield from serve_summary(tmp_path, write_catalog(tmp_path / "catalog.csv", CATALOG))


def finished(app: SummaryServer, command: list[str] | None = None) -> str:
    settings = {"runner": "command", "command": command or [sys.executable, str(JOB)], "workers": 2}
    batch = app.post("plan", {"selection": {"all": True}, "settings": settings})["batch_run_id"]
    app.post("start", {"batch_run_id": batch})
    wait_until(lambda: app.status(batch)["state"] == "completed", timeout=60)
    return batch


def open_outcome(p, app: SummaryServer, batch: str, shows: str) -> None:
    """History: the batch's row, then its product p01, until the evidence card shows ``shows``."""
    p.goto(app.page_url)
    wait_until(lambda: "Batch Run Summary" in text(p, "summary-header"), timeout=30)
    p.locator(".bk-tab", has_text="History").click()
    history = p.locator(".history-batches .tabulator")
    wait_until(lambda: batch in history.inner_text(), timeout=20)
    history.locator(".tabulator-cell", has_text=batch[:13]).first.click()
    wait_until(lambda: p.locator(".history-items .tabulator-row").count() == 2, timeout=20)
    p.locator(".history-items .tabulator-cell", has_text="p01").first.click()
    wait_until(lambda: shows in text(p, "outcome-evidence"), timeout=20)


def test_evidence_is_readable_at_1280_and_names_its_batch(app, browser, tmp_path):
    older, newer = finished(app), finished(app)
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    session = watch(context)
    p = session.page
    try:
        open_outcome(p, app, older, "connection")
        head, evidence = text(p, "outcome-head"), text(p, "outcome-evidence")
        assert older in head and newer not in head and "has no outcome" not in head  # the clicked batch's outcome
        assert "Wired, 2.4 GHz" in evidence and '["Wired"' not in evidence
        assert "Yes" in evidence and "26,000 dpi" in evidence and "Double-shot PBT" in evidence
        assert "<img src=x onerror=alert(1)>" in evidence  # the hostile snippet id, as text
        assert p.locator(".outcome-evidence img").count() == 0
        tables = p.evaluate(FITS)
        assert tables and all(t["right"] <= t["view"] and t["over"] <= 1 for t in tables), tables
        assert all(t["wrap"] != "anywhere" for t in tables), tables
        p.screenshot(path=str(tmp_path / "evidence-1280.png"), full_page=True)
        assert_clean(session)
    finally:
        context.close()


# The weight field's rows, read from the page: its snippet quote, the link and tier of its source, and any element
# inside the quote (a <b> in the source's words must stay text). Then every box from the quote up to the page, shadow
# roots crossed, that scrolls sideways (scrollWidth past clientWidth).
WEIGHT = """() => {
  const all = (root, sel, out = []) => { out.push(...root.querySelectorAll(sel));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) all(el.shadowRoot, sel, out); return out; };
  const quote = all(document, 'blockquote.snippet').find(q => q.textContent.startsWith('Weight:'));
  if (!quote) return null;
  const src = quote.closest('tr'), head = src.previousElementSibling;
  const scrolls = [];
  for (let el = quote; el; el = el.parentElement || (el.getRootNode() && el.getRootNode().host)) {
    if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) scrolls.push(el.tagName + '.' + el.className);
  }
  const card = all(document, '.outcome-card')[0];
  return {quote: quote.textContent, inner: quote.children.length, link: src.querySelector('a').href,
          linkText: src.querySelector('a').textContent, tier: head.querySelector('.tier').textContent,
          field: head.querySelector('.fname').textContent, scrolls,
          quotes: all(document, 'blockquote.snippet').map(q => [q.textContent.length, q.scrollWidth, q.clientWidth]),
          card: [card.scrollWidth, card.clientWidth], page: [document.documentElement.scrollWidth, window.innerWidth]};
}"""


def test_evidence_shows_the_sources_words_with_url_tier_and_batch_at_1280(app, browser, tmp_path):
    batch = finished(app, [sys.executable, str(SNIPPET_JOB), "first"])
    finished(app, [sys.executable, str(SNIPPET_JOB), "second"])  # the newer outcome: the clicked batch's is shown
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    session = watch(context)
    p = session.page
    try:
        open_outcome(p, app, batch, "Weight:")
        head = text(p, "outcome-head")
        assert f"from batch {batch}" in head  # the batch it came from: the one clicked
        weight = p.evaluate(WEIGHT)
        assert weight["quote"] == "Weight: <b>58 g</b> without cable (first)" and weight["inner"] == 0  # <b> as text
        assert weight["field"] == "weight" and weight["tier"] == "manufacturer"
        assert weight["link"] == weight["linkText"] == "https://maker.example/p01/specs"
        assert len(weight["quotes"]) == 3 and max(n for n, _, _ in weight["quotes"]) == 1_000  # the cut one too
        assert all(sw <= cw + 1 for _, sw, cw in weight["quotes"]), weight["quotes"]
        assert weight["scrolls"] == [], weight  # nothing from the quote up to the page scrolls sideways
        assert weight["card"][0] <= weight["card"][1] + 1 and weight["page"][0] <= weight["page"][1], weight
        evidence = text(p, "outcome-evidence")
        assert "snippet s-buttons" in evidence  # a field without words shows its snippet id
        p.screenshot(path=str(tmp_path / "snippet-1280.png"), full_page=True)
        assert_clean(session)
    finally:
        context.close()
