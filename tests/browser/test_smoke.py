import pytest

from tests.support.polling import wait_until

pytestmark = pytest.mark.browser


def test_dashboard_page_loads_without_console_errors(server, page, tmp_path):
    p = page.page
    p.goto(server.url + "/")
    wait_until(lambda: p.get_by_text("Batch Run Builder").count() > 0, timeout=30, message="page never rendered")
    wait_until(lambda: p.get_by_text("showing all 2,110 products").count() > 0, timeout=30, message="grid never filled")
    p.screenshot(path=str(tmp_path / "dashboard.png"))
    assert page.errors == [] and page.outside_requests == []
