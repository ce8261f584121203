from __future__ import annotations

import json
import math

import numpy as np

from labbook.store import jsoncodec


def test_nonfinite_round_trip() -> None:
    value = {
        "a": math.nan,
        "b": [math.inf, -math.inf, 1.5, {"c": math.nan}],
        "d": "NaN",
        "e": None,
        "f": True,
        "g": 2**70,
    }
    text = jsoncodec.dumps(value)
    json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # strict
    back = jsoncodec.loads(text)
    assert math.isnan(back["a"]) and math.isnan(back["b"][3]["c"])
    assert back["b"][:3] == [math.inf, -math.inf, 1.5]
    assert {k: back[k] for k in "defg"} == {"d": "NaN", "e": None, "f": True, "g": 2**70}


def test_plain_values_are_plain_json() -> None:
    assert json.loads(jsoncodec.dumps({"x": [1, 2.5, "é"]})) == {"x": [1, 2.5, "é"]}
    assert "$float" not in jsoncodec.dumps({"x": 1.0})


def test_numpy_values() -> None:
    back = jsoncodec.loads(
        jsoncodec.dumps(
            {"a": np.float32(1.5), "b": np.arange(3), "c": np.float64("nan"), "d": np.bool_(True)}
        )
    )
    assert back["a"] == 1.5 and back["b"] == [0, 1, 2] and math.isnan(back["c"])
    assert back["d"] is True


def test_untag_and_tag_are_inverse() -> None:
    v = [math.inf, {"k": -math.inf}]
    assert jsoncodec.untag(jsoncodec.tag(v)) == v
