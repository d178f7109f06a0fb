"""modelport: take a trained model from a file to a fast, observable, safely versioned endpoint.

The Python API is ``modelport.register``, ``modelport.predict``, ``modelport.explain`` and
``modelport.batch_predict``; everything else is the ``modelport`` command and the server.
"""

from __future__ import annotations

from typing import Any

from modelport._version import __version__

__all__ = ["__version__", "batch_predict", "explain", "predict", "register"]


def __getattr__(name: str) -> Any:
    # The Python API pulls in the registry and runtimes; import it only when asked for.
    if name in ("register", "predict", "batch_predict", "explain"):
        from modelport import api

        return getattr(api, name)
    raise AttributeError(f"module 'modelport' has no attribute {name!r}")
