"""config.yaml is written by a small emitter (no PyYAML import in a run): what PyYAML reads back
must equal what was written, whatever the keys and values."""

from __future__ import annotations

import math
from typing import Any

import yaml

from labbook.sdk import yamlout

HOSTILE: dict[str, Any] = {
    "lr": 1e-05,
    "big": 1e16,
    "neg": -2.5e-300,
    "whole": 3.0,
    "int": 2**62,
    "none": None,
    "flag": True,
    "off": False,
    "yes": "yes",
    "no": "no",
    "null": "null",
    "number_as_text": "1e3",
    "": "empty key",
    "empty": "",
    "1abc": "starts with a digit",
    "with space": "a: b # not a comment",
    'quote"back\\slash': "'single' \"double\" \\",
    "lines": "one\ntwo\tthree\r",
    "controls": "\x00\x07\x1b\x7f\x85\x9f",
    "unicode": "héllo wörld ☃ 日本 😀 \u2028 \ufeff",
    "lone surrogate": "\ud800x",
    "list": [1, 2.5, "three", None, True, [], {}, {"k": "v", "z": [1]}],
    "tuple": (1, 2),
    "empty list": [],
    "empty dict": {},
    "nested": {"a": {"b": {"c": 1, "d": "~"}}, "train/lr": 0.1, "~": "tilde key"},
    "optimizer": {"name": "adam", "betas": [0.9, 0.999]},
}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_what_pyyaml_reads_back_equals_what_was_written() -> None:
    text = yamlout.dump(HOSTILE)
    assert yaml.safe_load(text) == _plain(HOSTILE)


def test_it_reads_like_yaml_safe_dump() -> None:
    text = yamlout.dump({"lr": 0.001, "layers": [64, 32], "optimizer": {"name": "adam"}})
    assert text == 'layers: [64, 32]\nlr: 0.001\noptimizer:\n  name: "adam"\n'


def test_special_floats() -> None:
    back = yaml.safe_load(yamlout.dump({"a": math.nan, "b": math.inf, "c": -math.inf}))
    assert math.isnan(back["a"]) and back["b"] == math.inf and back["c"] == -math.inf


def test_an_empty_config() -> None:
    assert yaml.safe_load(yamlout.dump({})) == {}
