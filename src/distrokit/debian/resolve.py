"""Dependency resolution: the closure of Depends and Pre-Depends over the packages of
one or more repositories, for one architecture.

It picks, for each requirement, the first satisfiable alternative and the highest
version that meets the constraint (so a security update wins over the release).
Recommends, Suggests, Conflicts and Breaks are ignored: packages are unpacked into
an image, not installed by dpkg. There is no backtracking: a choice made earlier
that a later constraint rejects is reported as an error naming the chain.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from distrokit.debian.index import (
    Package,
    Relation,
    Stanza,
    compare,
    parse_relation,
    parse_relations,
    satisfies,
)
from distrokit.log import DistrokitError


class Candidate(NamedTuple):
    """A stanza and where it came from. A tuple: pools hold tens of thousands."""

    stanza: Stanza
    origin: str  # the repository URL the stanza's Filename is relative to

    @property
    def name(self) -> str:
        return self.stanza.package

    @property
    def version(self) -> str:
        return self.stanza.version

    def package(self) -> Package:
        s = self.stanza
        return Package(s.package, s.version, s.architecture, s.filename, s.sha256,
                       int(s.size or 0), self.origin)


class Pool:
    """Every package available for one architecture; ``where`` names the source in errors
    (e.g. "bookworm main, bookworm-security main (amd64)")."""

    def __init__(self, arch: str, where: str) -> None:
        self.arch = arch
        self.where = where
        self.by_name: dict[str, list[Candidate]] = {}
        self._providers: dict[str, list[tuple[Candidate, str]]] | None = None

    def add(self, stanzas: Iterable[Stanza], origin: str) -> None:
        for s in stanzas:
            if s.architecture in (self.arch, "all"):
                self.by_name.setdefault(s.package, []).append(Candidate(s, origin))
        self._providers = None

    def providers(self, name: str) -> list[tuple[Candidate, Relation]]:
        """(candidate, what it provides) for a virtual name."""
        if self._providers is None:
            # Built on first use by plain splitting (10k Provides fields); only the
            # entries for names actually looked up are parsed properly.
            self._providers = {}
            for cands in self.by_name.values():
                for cand in cands:
                    for item in cand.stanza.provides.split(",") if cand.stanza.provides else ():
                        virtual = item.partition("(")[0].partition(":")[0].strip()
                        self._providers.setdefault(virtual, []).append((cand, item))
        return [(cand, parse_relation(item)) for cand, item in self._providers.get(name, ())]


def _provides(provided: Relation, want: Relation) -> bool:
    # An unversioned Provides satisfies only unversioned dependencies.
    if not want.op:
        return True
    return provided.op == "=" and satisfies(provided.version, want.op, want.version)


def _highest(cands: Iterable[Candidate]) -> Candidate | None:
    best: Candidate | None = None
    for cand in cands:
        if best is None or compare(cand.version, best.version) > 0:
            best = cand
    return best


class _Resolver:
    def __init__(self, pool: Pool, ignore: Iterable[str]) -> None:
        self.pool = pool
        self.ignore = frozenset(ignore)
        self.chosen: dict[str, Candidate] = {}
        self.parent: dict[str, str] = {}  # package -> the package that pulled it in
        self.queue: deque[Candidate] = deque()

    def arch_ok(self, rel: Relation) -> bool:
        # One architecture only: ':any' and ':native' both mean the native package.
        return rel.arch in ("", "any", "native", self.pool.arch)

    def is_satisfied(self, rel: Relation) -> bool:
        if rel.name in self.ignore:
            return True
        if not self.arch_ok(rel):
            return False
        have = self.chosen.get(rel.name)
        if have is not None and satisfies(have.version, rel.op, rel.version):
            return True
        return any(cand is self.chosen.get(cand.name) and _provides(p, rel)
                   for cand, p in self.pool.providers(rel.name))

    def best(self, rel: Relation) -> Candidate | None:
        """The candidate this alternative would pick: a real package, else a provider."""
        if not self.arch_ok(rel):
            return None
        real = _highest(c for c in self.pool.by_name.get(rel.name, ())
                        if satisfies(c.version, rel.op, rel.version))
        if real is not None:
            return real
        providers = [c for c, p in self.pool.providers(rel.name) if _provides(p, rel)]
        # Several providers: an already chosen one, else the first by name (deterministic).
        for cand in providers:
            if self.chosen.get(cand.name) is cand:
                return cand
        if not providers:
            return None
        first = min(c.name for c in providers)
        return _highest(c for c in providers if c.name == first)

    def chain(self, name: str) -> list[str]:
        names = [name]
        while self.parent.get(names[-1]):
            names.append(self.parent[names[-1]])
        return names[::-1]

    def require(self, group: list[Relation], needed_by: str) -> None:
        if any(self.is_satisfied(rel) for rel in group):
            return
        reasons = []
        for rel in group:
            cand = self.best(rel)
            if cand is None:
                continue
            have = self.chosen.get(cand.name)
            if have is None:
                self.chosen[cand.name] = cand
                self.parent[cand.name] = needed_by
                self.queue.append(cand)
                return
            if have is not cand:
                reasons.append(f"{have.name} {have.version} already chosen")
        self.fail(group, needed_by, reasons)

    def fail(self, group: list[Relation], needed_by: str, reasons: list[str]) -> None:
        wanted = " | ".join(str(rel) for rel in group)
        if not needed_by:
            raise DistrokitError(f"Debian package '{wanted}' not found in {self.pool.where}")
        for rel in group:
            versions = sorted({c.version for c in self.pool.by_name.get(rel.name, ())})
            if versions:
                reasons.append(f"{rel.name} has only {', '.join(versions)}")
        detail = "; ".join(reasons) or f"not in {self.pool.where}"
        chain = " -> ".join([*self.chain(needed_by), wanted])
        raise DistrokitError(f"unsatisfiable Debian dependency {chain}: {detail}")


def resolve(pool: Pool, requests: Sequence[str], ignore: Iterable[str] = ()) -> list[Package]:
    """The closure of ``requests`` (names, or relations like "runc (>= 1.1)"), sorted by
    name. Names in ``ignore`` count as installed: left out, their dependencies unfollowed."""
    r = _Resolver(pool, ignore)
    # All requested packages are chosen before any dependency, so that an explicit
    # request decides which provider of a virtual package is used.
    for request in requests:
        r.require([parse_relation(request)], needed_by="")
    while r.queue:
        cand = r.queue.popleft()
        s = cand.stanza
        for group in parse_relations(s.pre_depends) + parse_relations(s.depends):
            r.require(group, needed_by=cand.name)
    return [r.chosen[name].package() for name in sorted(r.chosen)]
