"""Reading Plotly figures back in tests: plotly 6+ writes numeric arrays as base64 typed arrays."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np


def values(arr: Any) -> list[Any]:
    """A trace array as a list, whether plain JSON or ``{"dtype", "bdata"}`` (NaN -> None)."""
    if isinstance(arr, dict) and "bdata" in arr:
        out = np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"])).tolist()
    else:
        out = list(arr or [])
    return [None if isinstance(v, float) and v != v else v for v in out]


def trace(spec: str, name: str) -> dict[str, Any]:
    fig = json.loads(spec)
    return next(t for t in fig["data"] if t.get("name") == name)


def drawn_points(spec: str, name: str) -> tuple[int, int]:
    """(points with a value, points on the grid) of the named trace."""
    ys = values(trace(spec, name).get("y"))
    return sum(y is not None for y in ys), len(ys)
