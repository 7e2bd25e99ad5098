"""Parent/child suppression: one alert for the router that died, not one per device behind it.

A failure is judged against the *path* to its device: the device itself (for its service
checks), then its parent, grandparent and so on (``Device.parent_id``). The first device on the
path with an enabled reachability check gives the evidence:

* DOWN or UNREACHABLE: the failure is a consequence. The check is UNREACHABLE and raises no
  alert; the root (the highest DOWN device on the path) lists it under its own alert.
* UNKNOWN, stale, or no evidence anywhere on the path: nothing may be assumed, so the failure
  alerts as itself. A disabled or broken parent check never silently mutes its children.
* Answered after the failure started: the path is fine, the failure is real.
* Not heard from since the failure started, or failing but not yet past its retries: a parent
  and its children fail together but their results arrive in any order, so the child's alert
  is *held* until the parent has spoken, for at most ``wait`` parent intervals (and never more
  than ``max_wait`` seconds, so a parent polled rarely cannot hide a real failure for long).
  The parent is named so that the scheduler may poll it at once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from noc.alerting.states import State


@dataclass(frozen=True, slots=True)
class DeviceNode:
    id: int
    name: str
    parent_id: int | None
    site_id: int
    client_id: int
    reach_check_id: int | None = None
    """The device's enabled reachability check, if it has one."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What a reachability check currently says, as the path judgement needs it."""

    state: State
    failure: bool
    soft_failing: bool
    last_answer: float
    interval: float
    stale: bool


class Verdict(enum.Enum):
    OWN = "own"
    UNREACHABLE = "unreachable"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class PathJudgement:
    verdict: Verdict
    root: int | None = None
    """UNREACHABLE: the device whose outage explains this one."""
    wait_on: int | None = None
    """HOLD: the reachability check whose verdict is awaited."""
    until: float | None = None


OWN = PathJudgement(Verdict.OWN)

Lookup = Callable[[int], Evidence | None]


class Topology:
    """Devices and their parents; a cycle in ``parent_id`` is cut where it closes."""

    def __init__(self, nodes: Mapping[int, DeviceNode]) -> None:
        self.nodes = dict(nodes)
        self._depth: dict[int, int] = {}

    def ancestors(self, device_id: int) -> Iterator[DeviceNode]:
        """Parent first, up to the top; each device at most once."""
        seen = {device_id}
        node = self.nodes.get(device_id)
        while node is not None and node.parent_id is not None and node.parent_id not in seen:
            seen.add(node.parent_id)
            node = self.nodes.get(node.parent_id)
            if node is not None:
                yield node

    def path(self, device_id: int) -> Iterator[DeviceNode]:
        """The device itself, then its ancestors."""
        node = self.nodes.get(device_id)
        if node is not None:
            yield node
            yield from self.ancestors(device_id)

    def depth(self, device_id: int) -> int:
        if device_id not in self._depth:
            self._depth[device_id] = sum(1 for _ in self.ancestors(device_id))
        return self._depth[device_id]


def judge_path(
    topology: Topology,
    device_id: int,
    *,
    include_self: bool,
    fail_since: float,
    now: float,
    lookup: Lookup,
    wait: float,
    max_wait: float = float("inf"),
) -> PathJudgement:
    """How a confirmed failure on ``device_id`` that began at ``fail_since`` counts.

    ``include_self`` is True for a service check (its own device's reachability is evidence)
    and False for the device's reachability check itself (only ancestors are).
    """
    path = topology.path(device_id) if include_self else topology.ancestors(device_id)
    for node in path:
        evidence = lookup(node.reach_check_id) if node.reach_check_id is not None else None
        if evidence is None:
            continue  # no reachability check here: ask further up
        if evidence.state in (State.DOWN, State.UNREACHABLE) and not evidence.stale:
            return PathJudgement(Verdict.UNREACHABLE, root=find_root(topology, node, lookup))
        if evidence.stale or evidence.state is State.UNKNOWN:
            return OWN
        if not evidence.soft_failing and evidence.last_answer >= fail_since:
            return OWN
        until = fail_since + min(wait * evidence.interval, max_wait)
        if now < until:
            return PathJudgement(Verdict.HOLD, wait_on=node.reach_check_id, until=until)
        return OWN
    return OWN


def find_root(topology: Topology, node: DeviceNode, lookup: Lookup) -> int:
    """The highest DOWN device in the unbroken run of DOWN/UNREACHABLE devices above ``node``."""
    root = node.id
    for ancestor in topology.ancestors(node.id):
        if ancestor.reach_check_id is None:
            continue
        evidence = lookup(ancestor.reach_check_id)
        if evidence is None:
            continue
        if evidence.state is State.DOWN and not evidence.stale:
            root = ancestor.id
        elif evidence.state is not State.UNREACHABLE or evidence.stale:
            break
    return root
