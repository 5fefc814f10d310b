"""Run records that more than one layer writes: edits made after the fact (notes, tags, name).

The run's own process writes its records through :mod:`arty.tracking`; the server, the
``Api`` and the CLI edit a run through :mod:`arty.runs.edits` without loading the tracking
code. This package sits beside the artifacts layer and imports only the store and below.
"""
