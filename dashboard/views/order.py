"""Brand order: the selected brands as cards in run order, with up, down, to-top and pin controls.

The order lives on ``BuilderState.brand_order`` (pinned brands lead); this view only draws it and
calls the state's ``move``/``to_top``/``toggle_pin``/``place``, so the preview follows every change.
The cards are one small ReactiveHTML component rather than hundreds of Bokeh buttons: 65 brands
redraw in a few milliseconds, every control is a native ``<button>`` with an aria-label
("Move Logitech up"), keyboard focus stays on the brand that moved, and cards can also be dragged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import param
from panel.reactive import ReactiveHTML
from panel.viewable import Viewer

from dashboard.views.state import BuilderState
from dashboard.views.theme import ROOT_CSS

ACTIONS = ("up", "down", "top", "pin", "place")


class BrandCards(ReactiveHTML):
    """The cards themselves; ``on_action`` receives ``{"action", "brand", "position"?}`` from the browser.

    A ReactiveHTML template with a script, not a JSComponent: no ES module to compile in the
    browser, which would add about 0.4 s to the page's first paint.
    """

    order = param.Dict(default={"cards": []}, doc=(
        'The brands in run order: {"cards": [{"brand", "count", "pinned"}, ...]} (a dict: Panel 1.9.4 '
        "mistakes an empty list for a list of Parameterized objects when a list replaces a list of dicts)."))
    action = param.Dict(default={}, doc="The last control used in the browser (with a counter, so repeats count).")

    _template = '<ol id="list" class="brand-order" aria-label="Brand order"></ol>'

    _scripts = {
        "render": """
    const PIN_ICON = '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">' +
      '<path fill="currentColor" d="M10.5 1.5l4 4-1.4 1.4-.7-.7-2.6 2.6.4 3.1-1.4 1.4-2.5-2.5-3.6 3.6-.7-.7 ' +
      '3.6-3.6-2.5-2.5 1.4-1.4 3.1.4 2.6-2.6-.7-.7z"/></svg>';
    state.send = (action, brand, position) => {
      state.sent = (state.sent || 0) + 1;
      data.action = position === undefined ? {action, brand, n: state.sent} : {action, brand, position, n: state.sent};
    };
    const button = (card, action, text, label, disabled) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "order-btn " + action;
      if (text === null) b.innerHTML = PIN_ICON; else b.textContent = text;
      b.setAttribute("aria-label", label);
      b.title = label;
      b.dataset.brand = card.brand;
      b.dataset.action = action;
      b.disabled = disabled;
      return b;
    };
    const active = list.getRootNode().activeElement;
    const keep = active && active.dataset && active.dataset.brand !== undefined
      ? [active.dataset.brand, active.dataset.action] : null;
    list.replaceChildren();
    const cards = data.order.cards;
    if (!cards.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "Select products: their brands appear here in run order.";
      list.appendChild(empty);
    }
    const nPinned = cards.filter((c) => c.pinned).length;
    cards.forEach((card, i) => {
      const li = document.createElement("li");
      li.className = "card" + (card.pinned ? " pinned" : "");
      li.dataset.brand = card.brand;
      const pos = document.createElement("span");
      pos.className = "pos";
      pos.textContent = String(i + 1);
      const text = document.createElement("span");
      text.className = "text";
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = card.brand;
      name.title = card.brand;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = card.count.toLocaleString("en-US") + " selected";
      if (card.pinned) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "pinned";
        count.append(" ", badge);
      }
      text.append(name, count);
      const first = i === nPinned, last = i === cards.length - 1;
      const tools = document.createElement("span");
      tools.className = "tools";
      const pin = button(card, "pin", null, `${card.pinned ? "Unpin" : "Pin"} ${card.brand}`, false);
      pin.setAttribute("aria-pressed", card.pinned ? "true" : "false");
      tools.append(
        button(card, "up", "\u2191", `Move ${card.brand} up`, card.pinned || first),
        button(card, "down", "\u2193", `Move ${card.brand} down`, card.pinned || last),
        button(card, "top", "\u2912", `Move ${card.brand} to top`, card.pinned || first),
        pin,
      );
      li.append(pos, text, tools);
      if (!card.pinned) {
        li.draggable = true;
        li.addEventListener("dragstart", (e) => {
          state.dragged = card.brand;
          e.dataTransfer.effectAllowed = "move";
          e.dataTransfer.setData("text/plain", card.brand);
          li.classList.add("dragging");
        });
        li.addEventListener("dragend", () => { state.dragged = null; li.classList.remove("dragging"); });
        li.addEventListener("dragover", (e) => { if (state.dragged) { e.preventDefault(); li.classList.add("over"); } });
        li.addEventListener("dragleave", () => li.classList.remove("over"));
        li.addEventListener("drop", (e) => {
          e.preventDefault();
          li.classList.remove("over");
          if (state.dragged && state.dragged !== card.brand) state.send("place", state.dragged, i - nPinned);
        });
      }
      list.appendChild(li);
    });
    if (!state.listening) {
      state.listening = true;
      list.addEventListener("click", (e) => {
        const b = e.target.closest("button");
        if (b && !b.disabled) state.send(b.dataset.action, b.dataset.brand);
      });
    }
    if (keep) {  // keyboard users stay on the brand they just moved
      const buttons = [...list.querySelectorAll("button")].filter((b) => b.dataset.brand === keep[0]);
      const target = buttons.find((b) => b.dataset.action === keep[1] && !b.disabled) || buttons.find((b) => !b.disabled);
      if (target) {
        target.focus({ preventScroll: true });
        target.closest("li").scrollIntoView({ block: "nearest" });
      }
    }
""",
        "order": "self.render()",
    }

    _stylesheets = ["""
    :host { display: block; }
    .brand-order { list-style: none; margin: 0; padding: 0 4px 0 0; height: 100%; overflow-y: auto;
                   box-sizing: border-box; font-size: 13px; }
    .card { display: flex; align-items: center; gap: 8px; padding: 6px 8px; margin: 0 0 6px 0;
            border: 1px solid var(--il-card-border); border-radius: 6px; background: var(--il-white); cursor: grab; }
    .card.pinned { background: var(--il-pin-bg); border-color: var(--il-pin); cursor: default; }
    .card.over { border-color: var(--il-focus); box-shadow: 0 0 0 2px rgba(0, 114, 181, .25); }
    .card.dragging { opacity: .5; }
    .pos { min-width: 22px; text-align: right; color: var(--il-muted-text); font-variant-numeric: tabular-nums; }
    .text { display: flex; flex-direction: column; flex: 1 1 auto; min-width: 0; }
    .name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .badge { font-size: 11px; padding: 0 5px; margin-left: 2px; border-radius: 8px; background: var(--il-pin); color: var(--il-pin-text); }
    .count { color: var(--il-muted-text); font-size: 12px; }
    .tools { display: flex; gap: 3px; flex: 0 0 auto; }
    .order-btn { font: inherit; min-width: 28px; height: 28px; padding: 0 6px; border: 1px solid var(--il-control-border);
                 border-radius: 4px; background: var(--il-control-bg); color: var(--il-control-text); cursor: pointer; }
    .order-btn svg { display: block; margin: auto; }
    .order-btn[aria-pressed="true"] { background: var(--il-pin); border-color: var(--il-pin-border); }
    .order-btn:hover:not(:disabled) { background: var(--il-control-hover); }
    .order-btn:focus-visible { outline: 2px solid var(--il-focus); outline-offset: 1px; }
    .order-btn:disabled { color: var(--il-disabled-text); cursor: default; background: var(--il-control-bg); }
    .empty { color: var(--il-muted-text); padding: 8px 0; }
    """]

    def __init__(self, on_action: Callable[[dict[str, Any]], None] | None = None, **params) -> None:
        super().__init__(**params)
        self._on_action = on_action

    @param.depends("action", watch=True)
    def _acted(self) -> None:
        if self._on_action is not None and isinstance(self.action, dict):
            self._on_action(self.action)


class BrandOrder(Viewer):
    """The selected brands in run order; every change goes to ``state.brand_order``/``state.pinned``."""

    state = param.ClassSelector(class_=BuilderState, doc="The builder state whose brand order this shows.")
    height = param.Integer(default=520, bounds=(120, None), doc="Height of the card list in pixels (it scrolls).")

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._cards = BrandCards(order=self._card_data(), on_action=self.act, height=self.height,
                                 sizing_mode="stretch_width", margin=(0, 5))
        self.state.param.watch(self._redraw, ["brand_order", "pinned", "selected_counts"])

    def _card_data(self) -> dict[str, list[dict[str, Any]]]:
        counts, pinned = self.state.selected_counts, set(self.state.pinned)
        return {"cards": [{"brand": b, "count": counts.get(b, 0), "pinned": b in pinned} for b in self.state.brand_order]}

    def _redraw(self, *_events) -> None:
        self._cards.order = self._card_data()

    def act(self, msg: dict[str, Any]) -> None:
        """One control used in the browser: ``{"action": "up"|"down"|"top"|"pin"|"place", "brand", "position"?}``."""
        action, brand = msg.get("action"), msg.get("brand")
        if action not in ACTIONS or not isinstance(brand, str):
            return
        if action == "up":
            self.state.move(brand, -1)
        elif action == "down":
            self.state.move(brand, +1)
        elif action == "top":
            self.state.to_top(brand)
        elif action == "pin":
            self.state.toggle_pin(brand)
        elif isinstance(msg.get("position"), int):
            self.state.place(brand, msg["position"])

    def __panel__(self) -> pn.viewable.Viewable:
        title = pn.pane.HTML("<h3 class='order-title'>Brand order</h3>", margin=(0, 5),
                             stylesheets=[".order-title { margin: 4px 0 2px 0; font-size: 16px; }"])
        hint = pn.pane.HTML("Runs top to bottom. Pinned brands always lead; drag a card or use its buttons.",
                            margin=(0, 5, 8, 5), styles={"color": "var(--il-muted-text)", "font-size": "12px"})
        return pn.Column(title, hint, self._cards, sizing_mode="stretch_width", css_classes=["brand-order-panel"],
                         stylesheets=[ROOT_CSS])
