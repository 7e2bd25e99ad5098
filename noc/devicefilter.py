"""The console's device filter: a query line typed by a technician, parsed once, matched fast.

Syntax: words match anywhere in a device's name, address, client, site, kind or tags;
``client:acme``, ``site:hq``, ``tag:db`` and ``kind:router`` narrow to one field (substring,
any case); ``state:down,crit`` keeps those states (prefixes of the state names). Every part must
match. "Problems only" is a separate toggle so that it survives editing the query.
"""

from __future__ import annotations

from dataclasses import dataclass

from noc.errors import NocError
from noc.livemodel import DeviceView
from noc.readmodel import STATE_RANK

FIELDS = ("client", "site", "tag", "kind", "state")


class FilterError(NocError):
    """A filter query that cannot be understood, with the part at fault."""


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    words: tuple[str, ...] = ()
    client: str = ""
    site: str = ""
    tag: str = ""
    kind: str = ""
    states: frozenset[str] = frozenset()
    problems_only: bool = False
    query: str = ""

    @classmethod
    def parse(cls, query: str, *, problems_only: bool = False) -> DeviceFilter:
        words: list[str] = []
        fields: dict[str, str] = {}
        states: set[str] = set()
        for token in query.split():
            name, colon, value = token.partition(":")
            if not colon or name.lower() not in FIELDS:
                words.append(token.lower())
                continue
            name, value = name.lower(), value.lower()
            if not value:
                raise FilterError(f"filter {token!r}: {name}: needs a value")
            if name == "state":
                for part in filter(None, value.split(",")):
                    found = {s for s in STATE_RANK if s.lower().startswith(part)}
                    if not found:
                        known = ", ".join(s.lower() for s in STATE_RANK)
                        raise FilterError(f"filter {token!r}: unknown state (known: {known})")
                    states |= found
            else:
                fields[name] = value
        return cls(
            words=tuple(words),
            client=fields.get("client", ""),
            site=fields.get("site", ""),
            tag=fields.get("tag", ""),
            kind=fields.get("kind", ""),
            states=frozenset(states),
            problems_only=problems_only,
            query=query.strip(),
        )

    def with_problems(self, problems_only: bool) -> DeviceFilter:
        return DeviceFilter(
            self.words,
            self.client,
            self.site,
            self.tag,
            self.kind,
            self.states,
            problems_only,
            self.query,
        )

    @property
    def active(self) -> bool:
        return bool(
            self.words
            or self.client
            or self.site
            or self.tag
            or self.kind
            or self.states
            or self.problems_only
        )

    @property
    def uses_state(self) -> bool:
        """Whether a state change can move a device in or out of the result."""
        return self.problems_only or bool(self.states)

    def matches(self, view: DeviceView, client_code: str = "") -> bool:
        tile = view.tile
        if self.problems_only and not view.problem:
            return False
        if self.states and view.state not in self.states:
            return False
        if self.client and not (
            self.client in tile.client.lower() or self.client in client_code.lower()
        ):
            return False
        if self.site and self.site not in tile.site.lower():
            return False
        if self.kind and self.kind not in tile.kind.lower():
            return False
        if self.tag and not any(self.tag in t.lower() for t in tile.tags):
            return False
        if self.words:
            haystack = " ".join(
                (tile.name, tile.address, tile.client, client_code, tile.site, tile.kind)
                + tile.tags
            ).lower()
            return all(word in haystack for word in self.words)
        return True
