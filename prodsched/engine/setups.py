# ruff: noqa: FURB136  (hot loops compare inline rather than call min()/max())
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

    __slots__ = ("_bounds", "classes", "cls", "l2s", "matrix", "mix", "s2l", "typ", "width")

    def __init__(
        self,
        operations: Sequence[Operation],
        machines: Sequence[Machine],
        class_setup: Mapping[tuple[str, str], int],
    ) -> None:
        classes = sorted({op.op_class for op in operations} | {k[0] for k in class_setup}
                         | {k[1] for k in class_setup})
        cindex = {c: i for i, c in enumerate(classes)}
        mixtures = sorted({op.mixture for op in operations})
        mindex = {mx: i for i, mx in enumerate(mixtures)}
        self.classes = classes
        self.cls = [cindex[op.op_class] for op in operations]
        self.mix = [mindex[op.mixture] for op in operations]
        self.typ = [c * len(mixtures) + mx for c, mx in zip(self.cls, self.mix)]  # class+mixture
        self.width = [int(op.width) for op in operations]
        self.matrix = [[int(class_setup.get((a, b), 0)) for b in classes] for a in classes]
        self.l2s = [int(m.long_to_short) for m in machines]
        self._bounds: dict[tuple[int, int, int], tuple] = {}
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

    def gap_bounds(self, p: int, n: int, m: int,
                   classes: Sequence[int]) -> tuple[tuple[tuple[int, int, int], ...], int, int]:
        """Lower bounds on the setups of an op ``x`` put between ops ``p`` (-1: none) and ``n``.

        Returns ``(generic, direct, width)``. ``generic[i]`` = ``(both, into, out)`` bounds the
        type changes ``p -> x -> n``, ``p -> x`` and ``x -> n`` over every ``x`` of class
        ``classes[i]`` whose class and mixture differ from both ``p``'s and ``n``'s (exact:
        ``class_setup[p -> c]`` in, ``class_setup[c -> n]`` out). ``width`` is the width change
        ``p -> n``: width changes obey the triangle inequality, so every ``x`` pays at least that
        much in total; as setup = max(type, width) on each side, ``max(both, width)`` bounds the
        two setups together. An ``x`` sharing class and mixture with ``p`` pays at least 0 in
        and ``direct`` (the type change ``p -> n``) out; mirrored for ``n``. The per-class part
        is cached per (machine, class of ``p``, class of ``n``); ``classes`` must be the same for
        every call with the same machine.
        """
        b = self.cls[n]
        if p < 0:
            key = (m, -1, b)
            generic = self._bounds.get(key)
            if generic is None:
                mat = self.matrix
                generic = self._bounds[key] = tuple((mat[c][b], 0, mat[c][b]) for c in classes)
            return generic, 0, 0
        a = self.cls[p]
        key = (m, a, b)
        generic = self._bounds.get(key)
        if generic is None:
            mat = self.matrix
            generic = self._bounds[key] = tuple(
                (mat[a][c] + mat[c][b], mat[a][c], mat[c][b]) for c in classes)
        direct = self.matrix[a][b] if (a != b or self.mix[p] != self.mix[n]) else 0
        wp = self.width[p]
        wn = self.width[n]
        if wn < wp:
            return generic, direct, self.l2s[m]
        if wn > wp:
            return generic, direct, self.s2l[m]
        return generic, direct, 0

    def class_index(self, op_class: str) -> int:
        return self.classes.index(op_class)

    def mean_positive(self) -> float:
        """Mean of the positive changeover values (class and width), 0 when there are none."""
        values = [v for row in self.matrix for v in row if v > 0]
        values += [v for v in self.l2s + self.s2l if v > 0]
        return sum(values) / len(values) if values else 0.0
