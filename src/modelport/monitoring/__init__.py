"""Deployment decisions from live traffic: shadow comparison and sequential canary tests.

Pure logic over numpy arrays: no I/O, no asyncio, no HTTP. Imports only ``modelport.core``.
"""

from modelport.monitoring.comparison import ShadowComparison, Side
from modelport.monitoring.sequential import (
    Decision,
    SequentialComparison,
    Variant,
    difference_interval,
    proportion_interval,
    significant_difference,
)

__all__ = [
    "Decision",
    "SequentialComparison",
    "ShadowComparison",
    "Side",
    "Variant",
    "difference_interval",
    "proportion_interval",
    "significant_difference",
]
