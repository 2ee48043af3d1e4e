"""Scale-out on a Dask cluster (optional: pip install indexlab[dask])."""
