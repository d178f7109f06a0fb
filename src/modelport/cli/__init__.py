"""The ``modelport`` command line (``root``: the group, ``serve``, ``register``, ``predict``, aliases,
policies, serving settings), one module per command group beside it, and what they share: ``context``
(settings, local or remote, errors), ``input`` and ``output``.

A command that works on a data directory or over HTTP imports none of the server's stack (uvicorn,
grpc, FastAPI): only ``serve`` imports ``modelport.server``'s app, when it runs.
"""

from __future__ import annotations

from modelport.cli.root import main

__all__ = ["main"]
