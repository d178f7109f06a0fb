"""Which versions of a model a server keeps live: a pure value and one pure function.

    latest      the newest version            latest:3   the three newest
    all         every version                 specific:1,4  exactly versions 1 and 4

Whatever the policy, every version an alias points at is live too, so moving an alias never
needs a policy change first.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from modelport.core import InvalidInput

__all__ = ["PolicyKind", "VersionPolicy", "live_versions", "refuse_missing_versions"]

PolicyKind = Literal["latest", "all", "specific"]
_USAGE = "expected 'latest', 'latest:<n>', 'all' or 'specific:<v>,<v>...'"


@dataclass(frozen=True, slots=True)
class VersionPolicy:
    kind: PolicyKind = "latest"
    n: int = 1
    """How many of the newest versions, for ``latest``."""
    versions: tuple[int, ...] = ()
    """Exactly these version numbers, for ``specific``."""

    def __post_init__(self) -> None:
        if self.kind not in ("latest", "all", "specific"):
            raise InvalidInput(f"unknown version policy {self.kind!r}; {_USAGE}")
        if self.kind == "latest" and (not _is_int(self.n) or self.n < 1):
            raise InvalidInput(f"version policy 'latest' needs n >= 1, got {self.n!r}")
        if self.kind == "specific":
            if not self.versions or not all(_is_int(v) and v >= 1 for v in self.versions):
                raise InvalidInput("version policy 'specific' needs one or more version numbers >= 1")
            object.__setattr__(self, "versions", tuple(sorted(set(self.versions))))

    @classmethod
    def latest(cls, n: int = 1) -> VersionPolicy:
        return cls("latest", n=n)

    @classmethod
    def all(cls) -> VersionPolicy:
        return cls("all")

    @classmethod
    def specific(cls, versions: Sequence[int]) -> VersionPolicy:
        return cls("specific", versions=tuple(versions))

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """Read the CLI/API short form: ``latest``, ``latest:3``, ``all``, ``specific:1,4``."""
        kind, _, arg = text.strip().partition(":")
        try:
            if kind == "latest":
                return cls.latest(int(arg) if arg else 1)
            if kind == "all" and not arg:
                return cls.all()
            if kind == "specific":
                return cls.specific([int(v) for v in arg.split(",")])
        except ValueError:
            pass
        raise InvalidInput(f"bad version policy {text!r}; {_USAGE}")

    def __str__(self) -> str:
        if self.kind == "latest":
            return "latest" if self.n == 1 else f"latest:{self.n}"
        if self.kind == "specific":
            return "specific:" + ",".join(map(str, self.versions))
        return "all"

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "latest":
            return {"kind": "latest", "n": self.n}
        if self.kind == "specific":
            return {"kind": "specific", "versions": list(self.versions)}
        return {"kind": "all"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VersionPolicy:
        if not isinstance(data, Mapping):
            raise InvalidInput("a version policy must be an object with a 'kind'")
        kind = data.get("kind")
        if kind == "latest":
            return cls.latest(data.get("n", 1))
        if kind == "specific":
            versions = data.get("versions")
            if not isinstance(versions, list | tuple):
                raise InvalidInput("version policy 'specific' needs a list of 'versions'")
            return cls.specific(versions)
        if kind == "all":
            return cls.all()
        raise InvalidInput(f"unknown version policy kind {kind!r}; {_USAGE}")


def live_versions(
    versions: Sequence[int], aliases: Mapping[str, int], policy: VersionPolicy
) -> frozenset[int]:
    """The versions to keep loaded: the policy's choice among ``versions`` plus every aliased one.

    Numbers named by the policy or an alias but absent from ``versions`` are left out.
    """
    existing = frozenset(versions)
    if policy.kind == "all":
        chosen = existing
    elif policy.kind == "latest":
        chosen = frozenset(sorted(existing)[-policy.n :])
    else:
        chosen = existing.intersection(policy.versions)
    return chosen | existing.intersection(aliases.values())


def refuse_missing_versions(name: str, policy: VersionPolicy, existing: Collection[int]) -> None:
    """Refuse a ``specific`` policy that names a version model ``name`` does not have.

    Such a policy would be stored and silently serve fewer versions than asked (only the aliased ones
    when none of its numbers exists), so a typo like ``specific:99`` is an error, not a change.
    """
    missing = sorted(set(policy.versions).difference(existing))
    if missing:
        have = ", ".join(map(str, sorted(existing))) or "none"
        raise InvalidInput(
            f"model {name!r} has no version {', '.join(map(str, missing))} (its versions: {have}); "
            "register it first, or name existing versions"
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
