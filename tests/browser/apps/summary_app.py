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
from dashboard.views.sessions import quiet_closed_pages  # noqa: E402
from dashboard.views.summary import BatchRunSummary  # noqa: E402

pn.extension("tabulator", notifications=True)
quiet_closed_pages()  # as `indexlab serve` does: a page closed mid-write is not an error (holoviz/panel#3341)

context = get_context()  # INDEXLAB_DB / INDEXLAB_CATALOG: the same engine as the REST plugin
if not getattr(context, "_closes_at_exit", False):  # panel serve has no shutdown hook: stop the engine's threads
    atexit.register(context.close)
    object.__setattr__(context, "_closes_at_exit", True)
run = RunState(context)
pn.Tabs(
    ("Batch Run Summary", BatchRunSummary(run=run)),
    ("History", History(context, run_state=run)),
    sizing_mode="stretch_width", margin=(10, 20),
).servable(title="IndexLab Batch: run summary")
