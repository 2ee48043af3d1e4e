"""Running a batch: the engine (dispatch and lifecycle), its in-memory active batch, live status and group-commit writer."""
