"""The headless ``indexlab`` commands (catalog, plan, items, run, status, failures, rerun)."""
