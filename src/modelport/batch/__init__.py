"""Batch predictions: score a file or a dataset with a registered version, offline.

A job is "chunks in, scored parts out, plus a manifest": ``sources`` reads record batches,
``chunks`` cuts them into fixed row ranges, ``scoring`` turns one range into a table of outputs (a
pure function of the loaded model and the rows, so another engine can call it), ``parts`` and
``manifest`` write the results atomically (``record``: in input order, for either engine),
``pipeline`` runs the three stages in overlapping threads, and ``job`` sets a job up (new or
resumed) and records how it ended. ``ray_engine`` is the other engine: a pool of Ray actors that
read their chunks' Parquet row groups (``ranges``) and score them, recorded by this process.
"""

from __future__ import annotations

from modelport.batch.job import BatchOptions, run_batch

__all__ = ["BatchOptions", "run_batch"]
