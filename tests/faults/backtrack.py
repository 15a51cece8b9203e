"""A step-counting model of Python's backtracking regex engine, for deterministic work bounds.

``re`` has no step counter, and wall-clock asserts are flaky. This module parses a compiled
pattern with ``re._parser`` (the parser ``re`` itself uses) and runs it on a small backtracking
machine with the same search order as ``sre``: every start position in turn, alternatives left to
right, greedy repeats longest first, single-character repeats scanned then given back one at a
time, lookarounds as anchored sub-matches. It keeps no memo, like ``sre``, so a pattern that is
quadratic (or cubic) in ``re`` is quadratic (or cubic) here. ``steps`` counts machine
instructions, characters scanned and backtracks; :class:`TooManySteps` aborts a run past a cap.

Supported: literals, classes, categories, ``.``, groups, alternation, greedy/lazy repeats,
``^ $ \\A \\Z \\b \\B``, lookahead and fixed-width lookbehind. Unsupported constructs raise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from re import _constants as C
from re import _parser

Pred = Callable[[str], bool]
_CHAR, _STAR, _SPLIT, _JMP, _AT, _ASSERT, _MATCH = range(7)


class TooManySteps(Exception):
    """The run exceeded its step cap."""


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


_CATEGORY: dict[object, Pred] = {
    C.CATEGORY_DIGIT: str.isdecimal,
    C.CATEGORY_NOT_DIGIT: lambda ch: not ch.isdecimal(),
    C.CATEGORY_SPACE: str.isspace,
    C.CATEGORY_NOT_SPACE: lambda ch: not ch.isspace(),
    C.CATEGORY_WORD: _is_word,
    C.CATEGORY_NOT_WORD: lambda ch: not _is_word(ch),
}


def _fold(pred: Pred, icase: bool) -> Pred:
    if not icase:
        return pred
    return lambda ch: pred(ch) or pred(ch.lower()) or pred(ch.upper())


def _char_pred(op: object, av: object, icase: bool) -> Pred | None:
    """A predicate for one single-character item, or None if the item is not one."""
    if op is C.LITERAL:
        c = chr(av)  # type: ignore[arg-type]
        return _fold(lambda ch: ch == c, icase)
    if op is C.NOT_LITERAL:
        c = chr(av)  # type: ignore[arg-type]
        return (lambda ch: ch.lower() != c.lower()) if icase else (lambda ch: ch != c)
    if op is C.ANY:
        return lambda ch: ch != "\n"
    if op is C.IN:
        items = list(av)  # type: ignore[call-overload]
        negate = bool(items) and items[0][0] is C.NEGATE
        if negate:
            items = items[1:]
        chars = frozenset(chr(a) for o, a in items if o is C.LITERAL)
        ranges = [(chr(a[0]), chr(a[1])) for o, a in items if o is C.RANGE]
        cats = [_CATEGORY[a] for o, a in items if o is C.CATEGORY]
        if any(o not in (C.LITERAL, C.RANGE, C.CATEGORY) for o, _ in items):
            raise NotImplementedError(f"class item in {items}")

        def member(ch: str) -> bool:
            return ch in chars or any(lo <= ch <= hi for lo, hi in ranges) or any(f(ch) for f in cats)

        m = _fold(member, icase)
        return (lambda ch: not m(ch)) if negate else m
    return None


class Program:
    """A compiled pattern for the machine; :meth:`finditer_steps` is the measurement."""

    def __init__(self, pattern: re.Pattern[str] | str, flags: int = 0) -> None:
        if isinstance(pattern, re.Pattern):
            pattern, flags = pattern.pattern, pattern.flags
        self.icase = bool(flags & re.IGNORECASE)
        if flags & (re.MULTILINE | re.DOTALL | re.VERBOSE):
            raise NotImplementedError("flags")
        self.code: list[tuple] = []
        self._emit_seq(_parser.parse(pattern, flags))
        self.code.append((_MATCH,))

    # --- compiler -------------------------------------------------------------------------
    def _emit_seq(self, seq: object) -> None:
        for op, av in seq:  # type: ignore[attr-defined]
            self._emit(op, av)

    def _emit(self, op: object, av: object) -> None:
        code = self.code
        pred = _char_pred(op, av, self.icase)
        if pred is not None:
            code.append((_CHAR, pred))
        elif op is C.SUBPATTERN:
            self._emit_seq(av[3])  # type: ignore[index]
        elif op is C.BRANCH:
            alts = av[1]  # type: ignore[index]
            jumps = []
            for i, alt in enumerate(alts):
                if i < len(alts) - 1:
                    split = len(code)
                    code.append(None)  # type: ignore[arg-type]
                    self._emit_seq(alt)
                    jumps.append(len(code))
                    code.append(None)  # type: ignore[arg-type]
                    code[split] = (_SPLIT, split + 1, len(code))
                else:
                    self._emit_seq(alt)
            for j in jumps:
                code[j] = (_JMP, len(code))
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, hi, body = av  # type: ignore[misc]
            greedy = op is C.MAX_REPEAT
            items = list(body)
            one = _char_pred(*items[0], self.icase) if len(items) == 1 else None
            if one is not None:
                code.append((_STAR, one, lo, hi if hi is not C.MAXREPEAT else 1 << 62, greedy))
                return
            for _ in range(lo):
                self._emit_seq(body)
            if hi is C.MAXREPEAT:
                loop = len(code)
                code.append(None)  # type: ignore[arg-type]
                self._emit_seq(body)
                code.append((_JMP, loop))
                out = len(code)
                code[loop] = (_SPLIT, loop + 1, out) if greedy else (_SPLIT, out, loop + 1)
            else:
                splits = []
                for _ in range(hi - lo):
                    splits.append(len(code))
                    code.append(None)  # type: ignore[arg-type]
                    self._emit_seq(body)
                out = len(code)
                for s in splits:
                    code[s] = (_SPLIT, s + 1, out) if greedy else (_SPLIT, out, s + 1)
        elif op is C.AT:
            code.append((_AT, av))
        elif op in (C.ASSERT, C.ASSERT_NOT):
            direction, body = av  # type: ignore[misc]
            sub = Program.__new__(Program)
            sub.icase, sub.code = self.icase, []
            sub._emit_seq(body)
            sub.code.append((_MATCH,))
            width = None
            if direction < 0:
                lo, hi = body.getwidth()
                if lo != hi:
                    raise NotImplementedError("variable-width lookbehind")
                width = lo
            code.append((_ASSERT, sub, width, op is C.ASSERT_NOT))
        else:
            raise NotImplementedError(f"{op} {av!r}")

    # --- machine --------------------------------------------------------------------------
    def run(self, s: str, start: int, budget: list[int]) -> int | None:
        """Anchored match at ``start``: the end position or None. ``budget[0]`` counts steps down."""
        code, n = self.code, len(s)
        stack: list[tuple] = []
        pc, pos = 0, start
        while True:
            budget[0] -= 1
            if budget[0] < 0:
                raise TooManySteps
            ins = code[pc]
            kind = ins[0]
            ok = True
            if kind == _CHAR:
                if pos < n and ins[1](s[pos]):
                    pos += 1
                    pc += 1
                else:
                    ok = False
            elif kind == _STAR:
                _, pred, lo, hi, greedy = ins
                if greedy:
                    count = 0
                    while count < hi and pos + count < n and pred(s[pos + count]):
                        count += 1
                    budget[0] -= count
                    if count < lo:
                        ok = False
                    else:
                        if count > lo:
                            stack.append((-1, pc, pos, count - 1))
                        pos += count
                        pc += 1
                else:
                    count = 0
                    while count < lo and pos + count < n and pred(s[pos + count]):
                        count += 1
                    budget[0] -= count
                    if count < lo:
                        ok = False
                    else:
                        stack.append((-2, pc, pos, count))
                        pos += count
                        pc += 1
            elif kind == _SPLIT:
                stack.append((ins[2], pos))
                pc = ins[1]
            elif kind == _JMP:
                pc = ins[1]
            elif kind == _AT:
                ok = _at(ins[1], s, pos)
                pc += 1
            elif kind == _ASSERT:
                _, sub, width, negate = ins
                if width is None:
                    hit = sub.run(s, pos, budget) is not None
                else:
                    hit = pos - width >= 0 and sub.run(s, pos - width, budget) == pos
                ok = hit != negate
                pc += 1
            else:  # _MATCH
                return pos
            if ok:
                continue
            while True:  # backtrack
                if not stack:
                    return None
                budget[0] -= 1
                top = stack.pop()
                if top[0] == -1:  # greedy single-char repeat gives one back
                    _, spc, spos, count = top
                    if count > code[spc][2]:
                        stack.append((-1, spc, spos, count - 1))
                    pc, pos = spc + 1, spos + count
                    break
                if top[0] == -2:  # lazy single-char repeat takes one more
                    _, spc, spos, count = top
                    _, pred, lo, hi, _ = code[spc]
                    if count < hi and spos + count < n and pred(s[spos + count]):
                        stack.append((-2, spc, spos, count + 1))
                        pc, pos = spc + 1, spos + count + 1
                        break
                    continue
                pc, pos = top
                break

    def finditer_steps(self, s: str, cap: int) -> tuple[list[tuple[int, int]], int]:
        """Spans ``re.finditer`` would give, and the steps spent finding them (or TooManySteps)."""
        budget = [cap]
        spans = []
        start = 0
        while start <= len(s):
            end = self.run(s, start, budget)
            if end is None:
                start += 1
                continue
            spans.append((start, end))
            start = end if end > start else end + 1
        return spans, cap - budget[0]


def _at(code: object, s: str, pos: int) -> bool:
    n = len(s)
    if code in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
        return pos == 0
    if code is C.AT_END:
        return pos == n or (pos == n - 1 and s[pos] == "\n")
    if code is C.AT_END_STRING:
        return pos == n
    if code in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY):
        before = pos > 0 and _is_word(s[pos - 1])
        after = pos < n and _is_word(s[pos])
        return (before != after) == (code is C.AT_BOUNDARY)
    raise NotImplementedError(f"{code}")
