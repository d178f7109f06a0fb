"""An endpoint in memory: its routes to loaded versions, by weight or routing key, and its shadows."""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate

from modelport.core.endpoints import EndpointConfig
from modelport.core.errors import NotReady
from modelport.core.tensors import Signature
from modelport.serving.loaded import LoadedVersion

__all__ = ["EndpointRoutes", "Shadow", "Variant", "build_endpoint"]


@dataclass(frozen=True, slots=True)
class Variant:
    route: str
    """The target as configured, e.g. ``iris@candidate``."""
    version: LoadedVersion
    weight: int

    @property
    def label(self) -> str:
        """The version that answers, ``iris:3``: outcomes, A/B reports and rollouts are kept per
        version, so that an alias moving to a new version starts it with no evidence."""
        return self.version.target


@dataclass(frozen=True, slots=True)
class Shadow:
    route: str
    version: LoadedVersion
    fraction: float
    """Share of requests mirrored, 0-1."""

    @property
    def label(self) -> str:
        """The version that runs the mirrored requests (comparisons are kept per version)."""
        return self.version.target


@dataclass(frozen=True)
class EndpointRoutes:
    name: str
    revision: int
    variants: tuple[Variant, ...]
    shadows: tuple[Shadow, ...]
    _cumulative: tuple[int, ...]

    @property
    def signature(self) -> Signature:
        return self.variants[0].version.signature

    def choose(self, route_key: str | None = None) -> Variant:
        """A variant by weight: at random, or, given a routing key, always the same one for that key."""
        total = self._cumulative[-1]
        if route_key is None:
            point = random.randrange(total)
        else:
            digest = hashlib.blake2b(route_key.encode(), digest_size=8).digest()
            point = int.from_bytes(digest, "big") % total
        return self.variants[bisect.bisect_right(self._cumulative, point)]


def build_endpoint(
    name: str,
    revision: int,
    config: EndpointConfig,
    resolve: Mapping[str, LoadedVersion],
) -> EndpointRoutes:
    """Bind ``config`` to loaded versions (``resolve``: target label → version); every route must be loaded.

    Shadows whose target is not loaded are left out until it is; a route that is not loaded raises
    ``NotReady`` so that the caller keeps serving the endpoint's previous routes meanwhile.
    """
    variants = []
    for route in config.routes:
        if route.weight == 0:
            continue
        version = resolve.get(str(route.target))
        if version is None:
            raise NotReady(f"endpoint {name!r}: {route.target} is not loaded yet")
        variants.append(Variant(str(route.target), version, route.weight))
    shadows = tuple(
        Shadow(str(s.target), resolve[str(s.target)], s.percent / 100)
        for s in config.shadows
        if str(s.target) in resolve and s.percent > 0
    )
    return EndpointRoutes(
        name=name,
        revision=revision,
        variants=tuple(variants),
        shadows=shadows,
        _cumulative=tuple(accumulate(v.weight for v in variants)),
    )
