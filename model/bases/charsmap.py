"""A SentencePiece ``precompiled_charsmap`` built from a per-codepoint normalisation table.

SentencePiece (and ``tokenizers.normalizers.Precompiled``) stores its normalisation rules as a
darts-clone double-array trie over UTF-8 keys, followed by the NUL-terminated replacement strings:

    u32 LE  trie size in bytes
    u32 LE  trie units ...
    bytes   replacement strings, each NUL-terminated; a key's trie value is its string's offset

Unit layout (darts-clone ``DoubleArrayUnit``): bits 0-7 label, bit 8 has-leaf, bit 9 offset
extension, bits 10-31 offset; a leaf unit is ``value | 1 << 31``. From node ``p`` the child for
byte ``c`` sits at ``p ^ offset(p) ^ c`` and the node's own value at ``p ^ offset(p)``.

Pure Python, no I/O: :func:`build_charsmap` turns ``{codepoint: replacement}`` into those bytes.
"""

from __future__ import annotations

import struct
from typing import Any

_LEAF = 1 << 31
_HAS_LEAF = 1 << 8


def _offset_bits(offset: int) -> int:
    if offset < 1 << 21:
        return offset << 10
    if offset % 256 or offset >= 1 << 29:
        raise ValueError(f"double-array offset {offset} not encodable")
    return (offset << 2) | (1 << 9)


def _trie(keys: list[bytes]) -> list[dict[str, Any]]:
    """Nodes of a byte trie: ``{"children": {byte: node_index}, "value": key_index or None}``."""
    nodes: list[dict[str, Any]] = [{"children": {}, "value": None}]
    for k, key in enumerate(keys):
        n = 0
        for byte in key:
            child = nodes[n]["children"].get(byte)
            if child is None:
                child = len(nodes)
                nodes.append({"children": {}, "value": None})
                nodes[n]["children"][byte] = child
            n = child
        nodes[n]["value"] = k
    return nodes


def build_double_array(keys: list[bytes], values: list[int]) -> list[int]:
    """Darts-clone units for ``keys`` with ``values`` (< 2**31); keys must be non-empty and NUL-free."""
    if any(0 in k or not k for k in keys):
        raise ValueError("keys must be non-empty and contain no NUL byte")
    nodes = _trie(keys)
    units: list[int] = [0]
    used = {0}
    bases: set[int] = set()  # unique per node: a shared base would let one node match another's child
    pos = {0: 0}  # trie node -> unit position
    next_free = 1
    queue = [0]
    while queue:
        n = queue.pop(0)
        p = pos[n]
        labels = sorted(nodes[n]["children"])
        need = ([0] if nodes[n]["value"] is not None else []) + labels
        if not need:
            continue
        free = next_free  # try bases that put the first needed slot on a free unit
        while True:
            base = free ^ need[0]
            slots = [base ^ c for c in need]
            off = p ^ base
            if (base not in bases and all(s not in used and s != 0 for s in slots)
                    and (off < 1 << 21 or off % 256 == 0)):
                break
            free += 1
            while free in used:
                free += 1
        bases.add(base)
        top = max(slots) + 1
        if top > len(units):
            units.extend([0] * (top - len(units)))
        units[p] = (units[p] & (0xFF | _HAS_LEAF)) | _offset_bits(off)
        if nodes[n]["value"] is not None:
            units[p] |= _HAS_LEAF
            units[base] = values[nodes[n]["value"]] | _LEAF
            used.add(base)
        for c in labels:
            child = nodes[n]["children"][c]
            s = base ^ c
            units[s] = c
            used.add(s)
            pos[child] = s
            queue.append(child)
        while next_free in used:
            next_free += 1
    # Lookups read unit (base ^ byte) for any byte without bounds checks: pad to whole 256-unit blocks.
    units.extend([0] * (-len(units) % 256))
    return units


def build_charsmap(table: dict[int, str]) -> bytes:
    """``precompiled_charsmap`` bytes mapping each codepoint in ``table`` to its replacement string."""
    blob = bytearray()
    keys, values = [], []
    for cp in sorted(table):
        if cp == 0:
            continue  # NUL cannot be a darts key; the engine turns control characters into spaces first
        keys.append(chr(cp).encode("utf-8"))
        values.append(len(blob))
        blob += table[cp].encode("utf-8") + b"\0"
    units = build_double_array(keys, values)
    return struct.pack("<I", 4 * len(units)) + struct.pack(f"<{len(units)}I", *units) + bytes(blob)
