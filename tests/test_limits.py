"""``labbook.limits``: the rules one record must meet, the same for the SDK, the Store and the
server."""

from __future__ import annotations

import pytest

from labbook import limits
from labbook.settings import Settings


def test_one_record_always_fits_one_request_body() -> None:
    # settings is a sibling of limits (neither imports the other): this test holds them equal.
    assert Settings().max_body_bytes == limits.MAX_BODY_BYTES
    assert limits.MAX_VALUE_BYTES < limits.MAX_RECORD_BYTES < limits.MAX_BODY_BYTES
    assert limits.MAX_BODY_BYTES - limits.MAX_RECORD_BYTES >= 64 * 1024  # the body's framing


def test_logs_size_bound_sends_every_row_with_too_many_keys_to_the_exact_check() -> None:
    from labbook.data.values import ROW_KEY_BYTES

    assert limits.MAX_ROW_KEYS * ROW_KEY_BYTES > limits.MAX_RECORD_BYTES
    assert ROW_KEY_BYTES >= 4 * limits.MAX_KEY_CHARS + 3 + 9  # UTF-8, str header, float


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "empty"),
        ("k" * 513, "at most 512 characters"),
        ("acc\x00top1", "NUL character (U+0000) at position 3: PostgreSQL"),
        ("loss\n", "control character U+000A at position 4"),
        ("a\x7fb", "control character U+007F"),
        ("a\x85b", "control character U+0085"),
        ("a\ud800", "unpaired surrogate (U+D800) at position 1"),
    ],
)
def test_refused_keys_say_why(key: str, why: str) -> None:
    problem = limits.key_problem(key)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    "key", ["loss", "k" * 512, "train/acc top-1 (%)", "précision/验证", "a.b", "🙂", "x\u00a0y"]
)
def test_printable_keys_of_any_script_are_accepted(key: str) -> None:
    assert limits.key_problem(key) is None


def test_string_values_refuse_nul_surrogates_and_size_only() -> None:
    assert limits.string_problem("line 1\nline 2\ttab") is None  # text keeps its whitespace
    assert limits.string_problem("é" * (limits.MAX_VALUE_BYTES // 2)) is None  # exactly the limit
    too_big = limits.string_problem("é" * (limits.MAX_VALUE_BYTES // 2 + 1))  # bytes, not chars
    assert too_big is not None and "4.0 MiB is larger than the 4 MiB" in too_big
    assert "NUL" in (limits.string_problem("a\x00") or "")
    assert "surrogate" in (limits.string_problem("a\udfff") or "")
    assert limits.string_problem("x" * limits.MAX_VALUE_BYTES) is None
    assert limits.string_problem("x" * (limits.MAX_VALUE_BYTES + 1)) is not None


def test_nested_values_name_the_path_to_the_problem() -> None:
    assert limits.nested_problem({"a": [1, {"b": "ok"}]}) is None
    assert limits.nested_problem({"a": [1, {"b\x00": 1}]}) == (
        ".a[1].b\x00",
        "a key must not contain a NUL character (U+0000) at position 1: PostgreSQL cannot store it",
    )
    where, what = limits.nested_problem({"a": ["x", "y\x00"]}) or ("", "")
    assert where == ".a[1]" and "NUL" in what
    deep: object = 1
    for _ in range(limits.MAX_DEPTH):
        deep = {"a": deep}
    assert limits.nested_problem(deep) is None  # 32 levels: a filter path can reach it
    found = limits.nested_problem({"a": deep})
    assert found is not None and "at most 32 levels" in found[1]


def test_shorten_keeps_short_text_and_cuts_long_text_with_its_length() -> None:
    assert limits.shorten("loss") == "loss"
    long = limits.shorten("k" * 10_000)
    assert long == "k" * 60 + "…(10,000 characters)"
