"""The friendship graph of a replicate, built once and shared where the same users meet.

A generated graph is a pure function of (market size, graph parameters, seed, replicate), so a
`GraphCache` keyed on exactly that can hand the same graph to the three markets of one A/B
replicate (mixed, all-control, all-treatment) instead of building it three times. The cache is
an object with a bound, not a hidden dict: the engine keeps one per process (`PROCESS_GRAPHS`,
the last graph only, since a 1M-user graph takes hundreds of MB), and a caller may pass its own.
Edge-list graphs are read from their file each time. Below this memory cache, large generated
graphs are kept on disk for later runs and other processes (`sim.graph_store`).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from sim.graph import CommunityGraphParams, SocialGraph, edge_list_graph
from sim.graph_store import generated_graph
from sim.mechanics import REGISTRY
from sim.scenario import Scenario


def needs_graph(scenario: Scenario) -> bool:
    """Whether a run needs the friendship graph: a unit that is a cluster, a graph named in the
    market, or a mechanic whose shares travel along friendships."""
    unit = scenario.experiment.unit if scenario.experiment else "user"
    return (unit != "user" or scenario.market.graph is not None
            or any(REGISTRY[p.type][1].needs_graph for p in scenario.mechanics.values()))


class GraphCache:
    """Generated graphs by (size, parameters, seed, replicate), at most `capacity` of them and,
    before a new one is built, at most `max_bytes` of the earlier ones (the least recently
    used leave first)."""

    def __init__(self, capacity: int = 1, max_bytes: float = float("inf")) -> None:
        if capacity < 1:
            raise ValueError("a graph cache holds at least one graph")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._graphs: OrderedDict[tuple, SocialGraph] = OrderedDict()
        self.built = 0  # graphs generated so far (a test can see what was shared)
        self.read = 0  # graphs read from the disk store instead

    def __len__(self) -> int:
        return len(self._graphs)

    def clear(self) -> None:
        self._graphs.clear()

    @property
    def nbytes(self) -> int:
        return sum(g.indptr.nbytes + g.indices.nbytes + g.community.nbytes + g.degree.nbytes
                   for g in self._graphs.values())

    def graph(self, scenario: Scenario, replicate: int) -> SocialGraph:
        """The friendship graph of a replicate: generated from its own stream, or loaded."""
        params = scenario.market.graph or CommunityGraphParams()
        if not isinstance(params, CommunityGraphParams):
            source = scenario._source
            base = Path(source).parent if source != "<scenario>" else Path.cwd()
            return edge_list_graph(scenario.market.size, params, base, source)
        key = (scenario.market.size, params, scenario.seed, replicate)
        if key in self._graphs:
            self._graphs.move_to_end(key)
            return self._graphs[key]
        while self._graphs and (len(self._graphs) >= self.capacity
                                or self.nbytes > self.max_bytes):
            self._graphs.popitem(last=False)
        self._graphs[key], from_disk = generated_graph(scenario.market.size, params,
                                                       scenario.seed, replicate)
        self.read += from_disk
        self.built += not from_disk
        return self._graphs[key]


# The engine's default: the graphs this process used last, up to PROCESS_GRAPH_BYTES of them
# besides the one being built, so a sweep worker that runs many points keeps each replicate's
# graph (a 150k-user graph is about 10 MB and a fifth of a 2-second point) and a 1M-user run
# keeps at most a few hundred MB it no longer needs.
PROCESS_GRAPH_BYTES = 256 * 2**20
PROCESS_GRAPHS = GraphCache(capacity=64, max_bytes=PROCESS_GRAPH_BYTES)


def build_graph(scenario: Scenario, replicate: int) -> SocialGraph:
    """The graph a run of (scenario, replicate) uses, through the process's cache."""
    return PROCESS_GRAPHS.graph(scenario, replicate)
