"""One status printer for both CLIs (``indexlab status`` and ``indexlab batch status``), over the service's typed
read models: the service's status and the API's JSON document of it print the same text and exit the same way."""

from __future__ import annotations

import json

from engine.cli.output import _json_default
from engine.cli.status import exit_code, print_failure_groups, print_status
from engine.service import BatchService, BatchStatus, FailureGroup
from engine.store import Store
from tests.support.cli import run_job, selection


def as_api_document(value):
    """What a client of the REST API receives: the value as JSON text, read back."""
    return json.loads(json.dumps(value, default=_json_default))


def test_the_printer_takes_the_typed_read_models_and_prints_the_api_document_the_same(capsys, db, items, tmp_path):
    code, out, _ = run_job(capsys, db, items, "fail", tmp_path, *selection(1, 2, 3))
    batch_run_id = json.loads(out)["batch_run_id"]
    with Store(db) as store:
        service = BatchService(store, catalog=None)
        status, groups = service.status(batch_run_id), service.failure_groups(batch_run_id, limit=5)
    typed = BatchStatus.model_validate(status)
    typed_groups = [FailureGroup.model_validate(g) for g in groups]
    printed = []
    for args in ((typed, typed_groups), (status, groups), (as_api_document(status), as_api_document(groups))):
        print_status(*args)
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1] == printed[2]
    assert "result        Failed: 0 succeeded, 3 failed\n" in printed[0]
    assert "      3  exit 3: sensor table missing\n" in printed[0] and " e.g. #1 item-1, #2 item-2, #3 item-3" in printed[0]
    assert exit_code(typed) == exit_code(as_api_document(status)) == 4
    print_failure_groups(typed_groups, typed.outcomes.failed)
    assert capsys.readouterr().out.startswith("failures      3 failed in 1 reason group\n")


def test_the_executor_line_names_the_cluster_and_its_dashboard():
    from engine.cli.status import executor_line
    from engine.service import ExecutorInfo

    local = ExecutorInfo(executor="local", max_workers=4, workers=1, worker_threads=4)
    assert executor_line(local) == "local: 4 threads in the server"
    dask = ExecutorInfo(executor="dask", max_workers=8, workers=4, worker_threads=8, scheduler="tcp://10.0.0.5:8786",
                        status="running", dashboard_link="http://10.0.0.5:8787/status")
    assert executor_line(dask) == ("dask: 4 workers, 8 threads at tcp://10.0.0.5:8786; budget 8; "
                                   "dashboard http://10.0.0.5:8787/status")
    away = dask.model_copy(update={"status": "unreachable", "dashboard_link": None})
    assert executor_line(away) == "dask: 4 workers, 8 threads at tcp://10.0.0.5:8786 (unreachable); budget 8"
