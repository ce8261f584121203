"""How the command line spells values: short cells for tables, durations."""

from __future__ import annotations

import json
import math
from typing import Any


def fmt(v: Any) -> str:
    """A value as a short cell: floats to 4 significant digits, media by kind and size."""
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, dict) and isinstance(v.get("_type"), str):
        if v["_type"] == "list" and isinstance(v.get("items"), list):
            return f"<{len(v['items'])} x {v.get('items_type')}>"
        shape = f" {v['nrows']}x{len(v['columns'])}" if "nrows" in v and "columns" in v else ""
        return f"<{v['_type']}{shape}>"
    if isinstance(v, dict | list):
        return json.dumps(v, default=str)
    return str(v)


def duration(seconds: float | None) -> str:
    """``45s``, ``3m12s``, ``1h04m``, ``2d03h``."""
    if seconds is None:
        return ""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"
