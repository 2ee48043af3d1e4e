"""The ``harvest`` runner (DESIGN §6): specs for one product from the offline corpus or over HTTP.

Modules, in the order a run uses them:

- ``corpus``    sources index, field definitions, documents; loaded once per process per corpus
- ``fetch``     local documents or HTTP through the domain limiter; content-hash dedupe
- ``page``      parse (size-capped) and clean: scripts, hidden elements, page furniture
- ``extract``   candidates from tables, definition lists, bullets, pairs (+ ``jsonld``, ``prose``,
                ``dimensions``); ``candidates`` what one page states and the best per field
- ``fields``    field definitions and label -> field matching
- ``values``    canonical values: enums, bools, lists, text; tolerance-aware agreement
- ``numbers``   numbers with units, converted to the canonical unit with a tolerance
- ``reconcile`` a value per field by tier weight and agreement; confidence, conflicts
- ``llm``       thorough profile: an OpenAI-compatible endpoint for what the pages left open
- ``runner``    the phases and the outcome
"""

from engine.runners.harvest.runner import run_harvest

__all__ = ["run_harvest"]
