"""dashboard.views.paged: the table shows its own columns, whatever the fetch returns; a click gets the whole row."""

from __future__ import annotations

import asyncio

import pandas as pd
from bokeh.document import Document

from dashboard.views.paged import PagedTable


def fetch_with(frame: pd.DataFrame):
    def fetch(offset: int, limit: int) -> tuple[pd.DataFrame, int]:
        return frame.iloc[offset:offset + limit], len(frame)
    return fetch


def test_the_tables_columns_never_change_and_a_click_reads_the_whole_row():
    """Panel's Tabulator applies a change of columns even while the browser is still building the table, which
    throws: extra columns of a page (ids a click needs) stay off the table, missing ones are empty cells."""
    clicked: list[dict] = []
    frame = pd.DataFrame({"extra": ["x1", "x2"], "name": ["a", "b"], "seq": [1, 2]})
    table = PagedTable(fetch_with(frame), columns=["seq", "name", "state"], on_click=clicked.append)
    columns = list(table._table.value.columns)
    assert columns == ["seq", "name", "state"]
    table.load()
    assert list(table._table.value.columns) == columns
    assert table._table.value["name"].tolist() == ["a", "b"] and table._table.value["state"].isna().all()

    class Click:
        row = 1
    table._clicked(Click())
    assert clicked == [{"extra": "x2", "name": "b", "seq": 2}]


def test_an_unreadable_page_keeps_the_columns_and_says_why():
    def fetch(offset: int, limit: int):
        raise OSError("disk gone")
    table = PagedTable(fetch, columns=["seq", "name"])
    table.load()
    assert list(table._table.value.columns) == ["seq", "name"] and table._table.value.empty
    assert "could not read this page: OSError: disk gone" in table.error


def test_the_tables_configuration_is_the_same_for_an_empty_and_a_filled_page():
    """A new configuration rebuilds the table in the browser, and Panel's Tabulator drops the rows that arrive while
    it builds: a filter that emptied the list, then one that filled it, left the old rows shown for good. Number
    columns made the difference (Panel gives them a sorter)."""
    pages = {0: pd.DataFrame({"seq": [1, 2], "name": ["a", "b"], "ratio": [0.5, 1.0]})}
    table = PagedTable(lambda offset, limit: (pages[0], len(pages[0])), columns=["seq", "name", "ratio"])
    model = table._table.get_root()
    empty = model.configuration
    table.load()
    assert table._table.value["seq"].tolist() == [1, 2] and model.configuration == empty
    pages[0] = pd.DataFrame(columns=["seq", "name", "ratio"])
    table.load()
    assert table._table.value.empty and model.configuration == empty


def test_a_refresh_with_resend_sends_unchanged_rows_to_the_browser_again():
    """Panel's Tabulator drops rows that arrive while the browser builds the table (History's first page, under
    load), and the server cannot tell: a plain re-read of the same rows sends nothing, the Refresh button resends."""
    frame = pd.DataFrame({"seq": [1, 2], "name": ["a", "b"]})
    table = PagedTable(fetch_with(frame), columns=["seq", "name"])
    doc = Document()
    doc.add_root(table._table.get_root(doc))
    asyncio.run(table.refresh())
    sent: list[object] = []
    doc.on_change(sent.append)
    asyncio.run(table.refresh())
    assert sent == []  # the same rows: no redraw
    asyncio.run(table.refresh(resend=True))
    assert sent and table._table.value["name"].tolist() == ["a", "b"]
