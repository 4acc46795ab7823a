"""Scenarios and sweeps: one what-if question as a YAML file (schema, scenario), and grids of them (grid) run into
resumable Parquet shards, locally or on Dask (sweep)."""
