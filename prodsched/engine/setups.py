"""Changeover (setup) rules as a lookup.

Setup before B following A on a machine = max(type change, width change):

* type change = ``class_setup[(A.op_class, B.op_class)]`` when A and B differ in mixture or in
  op_class (a missing pair = 0);
* width change = the machine's ``long_to_short`` when B is narrower than A, ``short_to_long``
  when wider, 0 when equal.

A machine's first operation needs no setup. :class:`SetupTable` is the integer form the
scheduler's hot loop uses: classes, mixtures and widths of every operation as lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prodsched.engine.model import Machine, Operation


def type_change(a: Operation, b: Operation, class_setup: Mapping[tuple[str, str], int]) -> int:
    if a.mixture == b.mixture and a.op_class == b.op_class:
        return 0
    return int(class_setup.get((a.op_class, b.op_class), 0))


def width_change(a: Operation, b: Operation, machine: Machine) -> int:
    if b.width < a.width:
        return machine.long_to_short
    if b.width > a.width:
        return machine.short_to_long
    return 0


def setup_between(
    a: Operation | None,
    b: Operation,
    machine: Machine,
    class_setup: Mapping[tuple[str, str], int],
) -> int:
    """Slots of setup needed right before ``b`` when ``a`` ran before it on ``machine``."""
    if a is None:
        return 0
    return max(type_change(a, b, class_setup), width_change(a, b, machine))


class SetupTable:
    """Integer-coded setup lookup for a fixed list of operations and machines.

    ``setup(p, x, m)`` uses operation indexes ``p``, ``x`` and machine index ``m``.
    """

    __slots__ = ("_bounds", "_match", "classes", "cls", "l2s", "matrix", "mix", "s2l", "typ",
                 "width", "widths")

    def __init__(
        self,
        operations: Sequence[Operation],
        machines: Sequence[Machine],
        class_setup: Mapping[tuple[str, str], int],
    ) -> None:
        self._fill([op.op_class for op in operations], [op.mixture for op in operations],
                   [op.width for op in operations], machines, class_setup)

    @classmethod
    def from_columns(cls, op_class: Sequence[str], mixture: Sequence[str], width: Sequence[int],
                     machines: Sequence[Machine],
                     class_setup: Mapping[tuple[str, str], int]) -> SetupTable:
        """The table for operations given as columns (class, mixture, width per operation)."""
        table = cls.__new__(cls)
        table._fill(op_class, mixture, width, machines, class_setup)
        return table

    def _fill(self, op_class, mixture, width, machines, class_setup) -> None:
        classes = sorted(set(op_class) | {k[0] for k in class_setup}
                         | {k[1] for k in class_setup})
        cindex = {c: i for i, c in enumerate(classes)}
        mixtures = sorted(set(mixture))
        mindex = {mx: i for i, mx in enumerate(mixtures)}
        self.classes = classes
        self.cls = [cindex[c] for c in op_class]
        self.mix = [mindex[mx] for mx in mixture]
        self.typ = [c * len(mixtures) + mx for c, mx in zip(self.cls, self.mix)]  # class+mixture
        self.width = [int(w) for w in width]
        self.widths = sorted(set(self.width))
        self.matrix = [[int(class_setup.get((a, b), 0)) for b in classes] for a in classes]
        self.l2s = [int(m.long_to_short) for m in machines]
        self._bounds: dict[tuple[int, int, int, int, int], tuple] = {}
        self._match: dict[tuple[int, int, int, int], tuple[int, int]] = {}
        self.s2l = [int(m.short_to_long) for m in machines]

    def setup(self, p: int, x: int, m: int) -> int:
        cls = self.cls
        a = cls[p]
        b = cls[x]
        tc = self.matrix[a][b] if (a != b or self.mix[p] != self.mix[x]) else 0
        wp = self.width[p]
        wx = self.width[x]
        if wx < wp:
            wc = self.l2s[m]
        elif wx > wp:
            wc = self.s2l[m]
        else:
            return tc
        return tc if tc > wc else wc

    def width_change(self, a: int, b: int, m: int) -> int:
        """Width changeover from width ``a`` to width ``b`` on machine ``m``."""
        if b < a:
            return self.l2s[m]
        return self.s2l[m] if b > a else 0

    def gap_bounds(self, p: int, n: int, m: int, classes: Sequence[int]) -> tuple:
        """Lower bounds on the setups of an op ``x`` put between ops ``p`` (-1: none) and ``n``.

        Returns ``(generic, direct, both_p, both_n)``:

        * ``generic[i]`` = ``(both, into, out)`` bounds ``setup(p, x) + setup(x, n)``,
          ``setup(p, x)`` and ``setup(x, n)`` over every ``x`` of class ``classes[i]`` whose class
          and mixture differ from both ``p``'s and ``n``'s: such an ``x`` pays exactly
          ``class_setup[p -> c]`` and ``class_setup[c -> n]`` as type changes, and ``both`` takes
          the cheapest width ``x`` could have;
        * ``direct`` = the type change ``p -> n``: an ``x`` with ``p``'s class and mixture pays at
          least 0 in and ``direct`` out (mirrored for ``n``);
        * ``both_p`` / ``both_n`` bound the two setups together for such an ``x``.

        Cached per (machine, classes and widths of ``p`` and ``n``); ``classes`` must be the same
        for every call with the same machine. The timeline uses these bounds to skip idle gaps
        an operation cannot fit into.
        """
        b = self.cls[n]
        wn = self.width[n]
        mat = self.matrix
        if p < 0:
            key = (m, -1, b, 0, wn)
            generic = self._bounds.get(key)
            if generic is None:
                generic = self._bounds[key] = tuple((mat[c][b], 0, mat[c][b]) for c in classes)
            return generic, 0, 0, 0
        a = self.cls[p]
        wp = self.width[p]
        key = (m, a, b, wp, wn)
        generic = self._bounds.get(key)
        if generic is None:
            change = self.width_change
            out = []
            for c in classes:
                into, leave = mat[a][c], mat[c][b]
                both = min(max(into, change(wp, w, m)) + max(leave, change(w, wn, m))
                           for w in self.widths)
                out.append((both, into, leave))
            generic = self._bounds[key] = tuple(out)
        direct = mat[a][b] if (a != b or self.mix[p] != self.mix[n]) else 0
        mkey = (m, wp, wn, direct)
        match = self._match.get(mkey)
        if match is None:
            change = self.width_change
            both_p = min(change(wp, w, m) + max(direct, change(w, wn, m)) for w in self.widths)
            both_n = min(max(direct, change(wp, w, m)) + change(w, wn, m) for w in self.widths)
            match = self._match[mkey] = (both_p, both_n)
        return generic, direct, match[0], match[1]

    def mean_positive(self) -> float:
        """Mean of the positive changeover values (class and width), 0 when there are none."""
        values = [v for row in self.matrix for v in row if v > 0]
        values += [v for v in self.l2s + self.s2l if v > 0]
        return sum(values) / len(values) if values else 0.0
