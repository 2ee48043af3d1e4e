"""Evidence readable and honest (issue #17): values per type, the batch an outcome came from named, the clicked batch's
outcome preferred. A real Store and engine (test_summary_state's fixtures), no browser."""

from __future__ import annotations

from dashboard.views.evidence_html import fields_html
from dashboard.views.outcome import OutcomeView, evidence_html, field_text, outcome_head_html
from dashboard.views.theme import HTML_CSS
from engine.store import Store
from tests.dashboard.test_summary_state import context, gate, plan  # noqa: F401  (fixtures)
from tests.support.old_stores import v6_database_with_an_outcome


def test_values_are_formatted_per_type():
    assert field_text(["Wired"]) == "Wired"
    assert field_text(["Wired", "2.4 GHz"]) == "Wired, 2.4 GHz"
    assert field_text(True) == "Yes" and field_text(False) == "No"
    assert field_text(26000) == "26,000" and field_text(0.5) == "0.5" and field_text(1234.5) == "1,234.5"
    assert field_text({"w": 60, "h": 40}) == "w: 60, h: 40"
    assert field_text("Double-shot") == "Double-shot"


def test_values_never_break_mid_word():
    fval = next(line for line in HTML_CSS.splitlines() if "td.fval" in line)
    assert "anywhere" not in fval, fval  # "Doub/le-/shot"


def test_the_outcome_names_its_batch_and_says_when_it_is_not_the_clicked_one(context, gate):  # noqa: F811
    gate.open.set()
    first = plan(context)
    context.service.start(first)
    assert context.engine.wait_idle(60)
    second = plan(context)
    context.service.start(second)
    assert context.engine.wait_idle(60)
    view = OutcomeView(context)
    view.show("p01", batch_run_id=first)
    view.load()
    assert view.outcome["batch_run_id"] == first  # the clicked batch's outcome, not the newest one
    head = outcome_head_html("p01", view.outcome, {}, "", wanted_batch=first)
    assert first in head and "not from" not in head
    other = dict(view.outcome, batch_run_id=second)
    head = outcome_head_html("p01", other, {}, "", wanted_batch=first)
    assert second in head and first in head and "has no outcome" in head


def test_a_read_that_fails_says_why_instead_of_loading_for_ever(context, monkeypatch):  # noqa: F811
    """An unexpected error in the read (not an IndexLabError) used to leave the card saying "Loading…"."""
    import asyncio

    def broken(*_args, **_kwargs):
        raise RuntimeError("the disk said no")

    monkeypatch.setattr(context.service, "outcome", broken)
    view = OutcomeView(context)
    view.param.update(product_id="p01")
    asyncio.run(view.load_async())
    assert not view.loading and view.outcome is None
    assert "could not be read" in view.error and "the disk said no" in view.error
    assert "Loading" not in view.head.object and "the disk said no" in view.head.object


def test_a_snippet_is_shown_as_escaped_text_with_its_id_as_tooltip():
    html = fields_html([{"field": "weight", "value": 58, "unit": "g", "tier": "manufacturer",
                         "source_url": "https://maker.example/p", "snippet_id": 's"1',
                         "snippet": "Weight: <b>58 g</b> \u202eabc"}])
    assert '<blockquote class="snippet quote" title="snippet s&quot;1">Weight: &lt;b&gt;58 g&lt;/b&gt; \u202eabc' in html
    assert "<b>" not in html and "https://maker.example/p</a>" in html and ">manufacturer<" in html


def test_an_outcome_stored_before_snippets_shows_its_snippet_id(tmp_path):
    with Store(v6_database_with_an_outcome(tmp_path / "v6.duckdb")) as store:
        outcome = store.latest_outcome("p-old")
    html = evidence_html(outcome)
    assert '<div class="snippet">snippet <code>abc123</code></div>' in html and "blockquote" not in html
    assert "https://example.com/old" in html and "58 g" in html

