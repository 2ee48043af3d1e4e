"""Test helpers, imported by tests and fixtures alike (conftest.py files hold only fixtures).

polling      wait_until: poll a condition with a deadline (tests never sleep a fixed time)
catalogs     the one catalog writer (CSV file or DataFrame) and the small catalogs tests use
servers      the one server launcher: `indexlab serve` or `panel serve` as a real child process on a free port
unprivileged a child argv that file permissions apply to, even under root
inline       InlineExecutor: a deterministic engine runs each job at once in the caller
scripted     the scripted and fielded runners engine tests steer per product
api          Api: a client bound to one server, with a gated command job and its own job log
browser      Chromium launch arguments and a page that records console errors and non-loopback requests
harvest      the harvest kit: handmade and real category fields, spec pages, corpora, a direct runner call
sites        in-process HTTP servers for harvest tests: product sites and an OpenAI-compatible chat stub
"""
