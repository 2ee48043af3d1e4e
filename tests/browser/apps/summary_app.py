"""The Batch Run Summary and History on their own page, for the browser tests (dashboard/views/app.py is the real page).

    INDEXLAB_DB=... INDEXLAB_CATALOG=... panel serve tests/browser/apps/summary_app.py --plugins dashboard.api
"""

import atexit
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning, module="bokeh")  # Pandas4Warning under pandas 3.1

import panel as pn  # noqa: E402

from dashboard.context import get_context  # noqa: E402
from dashboard.views.history import History  # noqa: E402
from dashboard.views.run_state import RunState  # noqa: E402
from dashboard.views.running import RunningNow  # noqa: E402
from dashboard.views.sessions import quiet_closed_pages  # noqa: E402
from dashboard.views.summary import BatchRunSummary  # noqa: E402

pn.extension("tabulator", notifications=True)
quiet_closed_pages()  # as `indexlab serve` does: a page closed mid-write is not an error (holoviz/panel#3341)

context = get_context()  # INDEXLAB_DB / INDEXLAB_CATALOG: the same engine as the REST plugin
if not getattr(context, "_closes_at_exit", False):  # panel serve has no shutdown hook: stop the engine's threads
    atexit.register(context.close)
    object.__setattr__(context, "_closes_at_exit", True)
run = RunState(context)
tabs = pn.Tabs(sizing_mode="stretch_width", margin=(10, 20))


async def view(batch_run_id: str) -> None:
    tabs.active = 0
    await run.follow_async(batch_run_id)


running = RunningNow(context, run_state=run, on_view=view, shown=lambda: tabs.active == 2)
tabs.extend([
    ("Batch Run Summary", BatchRunSummary(run=run)),
    ("History", History(context, run_state=run)),
    ("Running & queued", running),
])
tabs.param.watch(lambda e: running.refresh() if e.new == 2 else None, "active")
tabs.servable(title="IndexLab Batch: run summary")
