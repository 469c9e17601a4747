"""Values nobody can change: read-only dicts and lists, and graphs made read-only in place.

The session's cache of decoded graphs (:mod:`prodsched.session.decoded`) hands one graph to every
reader; it is made read-only here, and :func:`is_read_only` tells a reader (e.g. stage 5 and the
verifier of stage 6, which build the engine's operations from the graph) that what it derived from
such a graph still describes it: the graph cannot have changed since.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

_READ_ONLY_GRAPHS: weakref.WeakSet = weakref.WeakSet()  # graphs made read-only by freeze_graph


def _refuse(self, *args, **kwargs):
    raise TypeError("this value belongs to a stored graph shared by everyone who reads it and cannot be "
                    "changed; change a copy (graph.copy(), dict(value), list(value))")


class ReadOnlyDict(dict):
    """A dict that refuses changes (``dict(d)`` or ``d.copy()`` gives a plain, changeable one)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self):
        return dict, (dict(self),)

    def __deepcopy__(self, memo):
        return {copy.deepcopy(k, memo): copy.deepcopy(v, memo) for k, v in self.items()}


class ReadOnlyList(list):
    """A list that refuses changes (``list(x)`` or ``x.copy()`` gives a plain, changeable one)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self):
        return list, (list(self),)

    def __deepcopy__(self, memo):
        return [copy.deepcopy(v, memo) for v in self]


_PLAIN = (dict, list)
_SCALAR = frozenset({str, int, bool, float, type(None)})  # what JSON reads, dicts and lists aside


def read_only(value: Any) -> Any:
    """``value`` with every plain dict and list in it (at any depth) made read-only."""
    kind = type(value)
    if kind is dict:
        if set(map(type, value.values())) <= _SCALAR:  # e.g. {machine: slots}: one C-level copy
            return ReadOnlyDict(value)
        return ReadOnlyDict({k: read_only(v) if type(v) in _PLAIN else v for k, v in value.items()})
    if kind is list:
        return ReadOnlyList([read_only(v) if type(v) in _PLAIN else v for v in value])
    return value


def freeze_graph(graph):
    """Make ``graph`` unchangeable in place: structure (``nx.freeze``) and every attribute."""
    import networkx as nx

    graph.graph = read_only(graph.graph)
    nodes = graph._node  # networkx keeps each node's attribute dict here (see nx.Graph's data structure)
    for node, attrs in nodes.items():
        nodes[node] = read_only(attrs)
    # each edge's attribute dict is shared by both of its directions (successors and predecessors,
    # or the two ends of an undirected edge); a multigraph keeps one dict per key in between
    mirror = graph._pred if graph.is_directed() else graph._adj
    for u, targets in graph._adj.items():
        for v, attrs in targets.items():
            if graph.is_multigraph():
                for key, edge in attrs.items():
                    attrs[key] = read_only(edge)
            else:
                targets[v] = mirror[v][u] = read_only(attrs)
    nx._clear_cache(graph)
    nx.freeze(graph)
    _READ_ONLY_GRAPHS.add(graph)
    return graph


def is_read_only(graph: Any) -> bool:
    """Whether ``graph`` was made read-only by :func:`freeze_graph` (structure and every attribute:
    nothing of it can change). A graph frozen with ``nx.freeze`` alone is not: its attributes can."""
    try:
        return graph in _READ_ONLY_GRAPHS
    except TypeError:  # not weakly referenceable: not one of ours
        return False
