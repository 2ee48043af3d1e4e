"""The hostile-text scene for the browser test: payloads in every catalog and job field, the JavaScript probes
that find what a payload would have made (elements, tooltips), and the Scene that drives the page and collects
every failed check with its place."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playwright.sync_api import Error as PlaywrightError

from tests.support.polling import wait_until
from tests.support.servers import Server

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "hostile"
JOB = ROOT / "tests" / "browser" / "jobs" / "hostile_job.py"
B = "/api/v1/indexlab/batch"

IMG = "<img src=x onerror=alert(1) class=pwn>"
SCRIPT = "<script>alert(2)</script>"
SVG = '"><svg class=pwn onload=alert(3)>'
JS = "javascript:alert(4)"
MD_LINK = "[x](javascript:alert(5))"
TEMPLATE = "{{7*7}} ${alert(6)}"
MD_HTML = "**<b class=pwn>x</b>**"
ENTITY = "&lt;b&gt;entity&amp;&lt;/b&gt;"
STYLE = "<style class=pwn>*{display:none!important}</style>"
IFRAME = '<iframe class=pwn srcdoc="<script>parent.alert(16)</script>"></iframe>'
QUOTE = "' onmouseover=alert(17) x='"
LONG_BRAND = "Long" + "brandname" * 12
LONG_MODEL = " ".join(["a very long model name"] * 8)
CATEGORIES = ["<b class=pwn>mice</b>", "**<i class=pwn>keyboards</i>**", "[c](javascript:alert(15))", "{{7*7}}"]
C_B, C_I, C_LINK, C_TPL = CATEGORIES
PRODUCTS = [  # product_id, category, brand, model, variant; the job reads ok/fail/hold off the id
    ("ok-1", C_B, IMG, SCRIPT, SVG),
    ("ok-2", C_I, JS, TEMPLATE, MD_HTML),
    ("javascript:ok-3", C_LINK, MD_LINK, ENTITY, QUOTE),
    ("ok-4", C_LINK, IMG, QUOTE, STYLE),
    ("fail-1", C_B, MD_HTML, IFRAME, ""),
    ("fail-2", C_TPL, STYLE, MD_LINK, IMG),
    ("hold-1", C_I, LONG_BRAND, LONG_MODEL, TEMPLATE),
    ("hold-2", C_B, "{{7*7}}", SVG, ENTITY),
]
COLUMNS = ("product_id", "category", "brand", "model", "variant")
BY_ID = {row[0]: dict(zip(COLUMNS, row)) for row in PRODUCTS}
BRANDS = sorted({row[2] for row in PRODUCTS})
PHASE = "<svg/onload=alert(24)>"
ERROR = "exit 1: <img src=x onerror=alert(25) class=pwn> failed"
STDERR = ["<img src=x onerror=alert(21) class=pwn>",
          "<script>alert(22)</script> **<b class=pwn>md</b>** [l](javascript:alert(23))"]

# Elements a payload would have made, anywhere in the page (shadow roots and tooltips included).
INJECTED = """() => {
  const found = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      const tag = el.tagName.toLowerCase();
      if (el.classList.contains('pwn')) found.push(`${tag}.pwn`);
      for (const name of el.getAttributeNames())
        if (/^on/i.test(name)) found.push(`${tag}[${name}=${el.getAttribute(name)}]`);
      const link = el.getAttribute('href') || el.getAttribute('src') || '';
      if (/^\\s*javascript:/i.test(link)) found.push(`${tag}[href=${link}]`);
      if (tag === 'script' && /alert\\(/.test(el.textContent)) found.push('script with alert');
      if (el.shadowRoot) visit(el.shadowRoot);
    }
  };
  visit(document);
  return found;
}"""

# The newest tooltip not seen yet: its text and how many elements it holds (it must hold none).
# With ``all``: mark every tooltip there is as seen.
TOOLTIP = """(all) => {
  const tips = [];
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList.contains('tabulator-tooltip') && !el.dataset.seen) tips.push(el);
      if (el.shadowRoot) visit(el.shadowRoot);
    }
  };
  visit(document);
  if (!tips.length || all) {
    for (const tip of tips) tip.dataset.seen = '1';
    return null;
  }
  const tip = tips[tips.length - 1];
  tip.dataset.seen = '1';
  const found = {text: tip.textContent, elements: tip.querySelectorAll('*').length, html: tip.innerHTML.slice(0, 200)};
  if (found.elements) tip.replaceChildren();  // what a payload made must not break the checks that follow
  return found;
}"""


@dataclass
class Scene:
    """The server, the page and everything that went wrong, with the place it went wrong."""

    server: Server
    page: object
    errors: list[str]
    outside: list[str]
    api: httpx.Client
    gate: Path
    dialogs: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    hovered: int = 0

    def check(self, ok: bool, where: str, detail: object = "") -> None:
        if not ok:
            self.findings.append(f"{where}: {detail}"[:400])

    def attempt(self, where: str, step, *args: object, **kwargs: object) -> None:
        """Run one step of a view; a step the page does not let happen is a finding, and the next step runs."""
        try:
            step(*args, **kwargs)
        except (AssertionError, PlaywrightError) as exc:
            self.check(False, f"{where}: could not be done", " | ".join(str(exc).splitlines()[:12]) if str(exc) else type(exc).__name__)

    def scan(self, where: str) -> None:
        """No payload made an element, here or anywhere else on the page."""
        injected = self.page.evaluate(INJECTED)
        self.check(not injected, f"{where}: elements made by payloads", sorted(set(injected)))

    def literal(self, shown: str, expected: str, where: str) -> None:
        self.check(expected in shown, f"{where}: {expected!r} not shown literally", shown[:200])

    def tab(self, name: str) -> None:
        self.page.locator(".bk-tab", has_text=name).click()

    def shot(self, name: str) -> None:
        size = self.page.viewport_size
        self.page.screenshot(path=str(SHOTS / f"{size['width']}x{size['height']}-{name}.png"), full_page=True)

    def hover_cells(self, table: str, fields: tuple[str, ...], where: str) -> None:
        """Hover every non-empty cell of ``fields`` in ``table``: each tooltip shows the cell's text, as text."""
        self.page.mouse.move(1, 1)  # off every table: a tooltip still pending from a click is cancelled
        for name in fields:
            cells = self.page.locator(f"{table} .tabulator-row .tabulator-cell[tabulator-field='{name}']")
            for i in range(cells.count()):
                hovered = None
                for _ in range(2):  # once more if the table redrew under the mouse (a refresh landed)
                    try:
                        hovered = self._hover(cells.nth(i))
                    except PlaywrightError as exc:
                        hovered = exc
                    if not isinstance(hovered, PlaywrightError) and (hovered is None or hovered[1] is not None):
                        break
                    self.page.mouse.move(1, 1)
                if isinstance(hovered, PlaywrightError):
                    self.check(False, f"{where} {name} row {i}: cannot hover", str(hovered).splitlines()[0])
                    continue
                if hovered is None:
                    continue
                shown, tip = hovered
                self.check(tip is not None, f"{where} {name} row {i}: no tooltip", shown)
                self.check(tip is None or (tip["elements"] == 0 and tip["text"].strip() == shown),
                           f"{where} {name} row {i}: tooltip is not the cell's text", tip)
        self.page.mouse.move(1, 1)

    def _hover(self, cell) -> tuple[str, dict | None] | None:
        """The cell's text and the tooltip hovering it brings up; None for an empty cell."""
        shown = cell.inner_text(timeout=30_000).strip()
        if not shown:
            return None
        cell.scroll_into_view_if_needed(timeout=30_000)
        self.page.evaluate(TOOLTIP, True)
        cell.hover(timeout=30_000)
        self.hovered += 1
        try:
            return shown, wait_until(lambda: self.page.evaluate(TOOLTIP, False), timeout=15)
        except AssertionError:
            return shown, None

    def cells(self, table: str, name: str) -> list[str]:
        return [t.strip() for t in
                self.page.locator(f"{table} .tabulator-row .tabulator-cell[tabulator-field='{name}']").all_inner_texts()]

    def rows_literal(self, table: str, where: str, fields: tuple[str, ...] = ("brand", "model", "variant")) -> None:
        """Each row's product text equals the catalog's, read by its product_id cell."""
        ids = self.cells(table, "product_id")
        self.check(bool(ids) and all(i in BY_ID for i in ids), f"{where}: product ids", ids)
        for name in fields:
            shown = self.cells(table, name)
            expected = [product_text(BY_ID[i]) if name == "product" else BY_ID[i][name] for i in ids if i in BY_ID]
            self.check(shown == expected, f"{where}: {name} cells", list(zip(shown, expected)))


def product_text(row: dict) -> str:
    """A product as History's items show it in one cell: brand, model and variant, the empty ones left out."""
    return " ".join(str(row[k]) for k in ("brand", "model", "variant") if row.get(k))


def shown_with(page, css_class: str, needle: str) -> str:
    """The text of the ``css_class`` pane once it shows ``needle`` (a pane may be drawn twice while it loads)."""
    panes = page.locator(f".{css_class} div")
    return wait_until(lambda: next((t for t in panes.all_inner_texts() if needle in t), ""), timeout=15,
                      message=f"the {css_class} pane never showed {needle!r}")
