"""log() semantics, read back through the store: types, flattening, steps, commit, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import labbook
from labbook import Api, Settings


def _history(api: Api, run: labbook.Run) -> object:
    return api.run(run.path).history()


def test_nested_dicts_flatten_and_types_are_kept(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    run.log({"train": {"loss": 0.5, "acc": {"top1": 0.9}}, "n": 3, "ok": True, "msg": "hi"})
    run.log({"train": {"loss": 0.25, "acc": {"top1": 0.95}}, "n": 4, "ok": False, "msg": "yo"})
    run.finish()
    h = api.run(run.path).history()
    assert list(h["train/loss"]) == [0.5, 0.25]
    assert list(h["train/acc/top1"]) == [0.9, 0.95]
    assert h["n"].dtype == np.int64 and list(h["n"]) == [3, 4]
    assert h["ok"].dtype == bool and list(h["ok"]) == [True, False]
    assert list(h["msg"]) == ["hi", "yo"]
    assert list(h["_step"]) == [0, 1]
    assert h["_timestamp"].is_monotonic_increasing
    assert (h["_runtime"] >= 0).all()


def test_numpy_and_zero_d_arrays_are_floats(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    run.log({"f32": np.float32(0.1), "i64": np.int64(7), "arr": np.array(2.5), "b": np.bool_(True)})
    run.finish()
    h = api.run(run.path).history()
    assert h["f32"][0] == float(np.float32(0.1))
    assert h["i64"][0] == 7 and h["i64"].dtype == np.int64
    assert h["arr"][0] == 2.5
    assert bool(h["b"][0]) is True


def test_torch_scalars_are_numbers(settings: Settings, api: Api) -> None:
    torch = pytest.importorskip("torch")
    run = labbook.init(project="p", settings=settings)
    run.log({"loss": torch.tensor(0.75), "step_count": torch.tensor(3)})
    run.log({"vec": torch.ones(3), "one": torch.tensor([2.5])})
    run.log({"grads": torch.arange(100, dtype=torch.bfloat16)})  # no numpy bfloat16: as float
    run.finish()
    h = api.run(run.path).history()
    assert h["loss"][0] == 0.75
    assert h["step_count"][0] == 3
    assert h["vec"][1] == [1.0, 1.0, 1.0] and h["one"][1] == 2.5
    assert h["grads"][2]["_type"] == "histogram" and sum(h["grads"][2]["values"]) == 100


def test_arrays_and_lists_follow_wandb(settings: Settings, api: Api) -> None:
    """A one-element array is its element; up to 32 elements a list; more, a 32-bin histogram
    of the values (wandb's rule), so ``log({"losses": losses})`` never stops a script."""
    run = labbook.init(project="p", settings=settings)
    big = np.random.default_rng(0).normal(size=1000)
    run.log(
        {
            "one": np.array([3.5]),
            "small": np.arange(6).reshape(2, 3),
            "losses": [0.5, 0.25, float("nan")],
            "words": np.array(["a", "b"]),
            "big": big,
            "nested": [np.arange(40), (1, "x", None, True)],
        }
    )
    run.finish()
    h = api.run(run.path).history()
    assert h["one"][0] == 3.5
    assert h["small"][0] == [[0, 1, 2], [3, 4, 5]]
    assert h["losses"][0][:2] == [0.5, 0.25] and math.isnan(h["losses"][0][2])
    assert h["words"][0] == ["a", "b"]
    counts, edges = np.histogram(big, bins=32)
    assert h["big"][0] == {"_type": "histogram", "bins": edges.tolist(), "values": counts.tolist()}
    assert h["nested"][0] == [list(range(40)), [1, "x", None, True]]  # in a list: stays a list


def test_nan_and_inf_are_values(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    for v in (float("nan"), float("inf"), -float("inf"), 1.0):
        run.log({"x": v})
    run.finish()
    x = api.run(run.path).history()["x"].to_numpy()
    assert math.isnan(x[0]) and x[1] == math.inf and x[2] == -math.inf and x[3] == 1.0


def test_unencodable_value_raises_type_error_naming_the_key(settings: Settings) -> None:
    run = labbook.init(project="p", settings=settings)
    with pytest.raises(TypeError, match="'bad/obj'"):
        run.log({"fine": 1.0, "bad": {"obj": object()}})
    with pytest.raises(TypeError, match="'big'"):
        run.log({"big": 2**70})
    with pytest.raises(TypeError, match="'arr'"):
        run.log({"arr": np.array([object(), object()])})
    with pytest.raises(TypeError, match=r"'lst\[1\]'"):
        run.log({"lst": [1.0, object()]})
    with pytest.raises(ValueError, match="_step"):
        run.log({"_step": 3})
    with pytest.raises(TypeError):
        run.log([1, 2])  # type: ignore[arg-type]
    run.finish()


def test_lower_step_is_dropped_with_one_warning(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    run.log({"a": 1.0}, step=5)
    run.log({"a": 2.0}, step=6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.log({"a": 99.0}, step=2)
        run.log({"a": 98.0}, step=3)
    assert len([w for w in caught if "lower than the current step" in str(w.message)]) == 1
    run.finish()
    h = api.run(run.path).history()
    assert list(h["_step"]) == [5, 6]
    assert list(h["a"]) == [1.0, 2.0]


def test_commit_false_merges_into_current_step(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    run.log({"a": 1.0}, commit=False)
    run.log({"b": 2.0}, commit=False)
    run.log({"c": 3.0})
    run.log({"a": 4.0})
    run.log({"x": 1.0}, step=10)
    run.log({"y": 2.0}, step=10)
    run.log({"x": 3.0}, step=11)
    run.finish()
    h = api.run(run.path).history()
    assert list(h["_step"]) == [0, 1, 10, 11]
    row0 = h.iloc[0]
    assert (row0["a"], row0["b"], row0["c"]) == (1.0, 2.0, 3.0)
    assert h.iloc[1]["a"] == 4.0 and math.isnan(h.iloc[1]["b"])
    assert (h.iloc[2]["x"], h.iloc[2]["y"]) == (1.0, 2.0)
    assert h.iloc[3]["x"] == 3.0


def test_row_timestamps_and_runtime(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    run.log({"a": 1.0})
    run.log({"b": 1.0})
    run.finish()
    h = api.run(run.path).history()
    assert h["_timestamp"].notna().all()
    assert abs(h["_runtime"].iloc[0] - (h["_timestamp"].iloc[0] - run.start_time)) < 1e-6


def test_module_level_log_goes_to_active_run(settings: Settings, api: Api) -> None:
    with pytest.raises(labbook.UsageError, match=r"labbook\.init"):
        labbook.log({"a": 1})
    run = labbook.init(project="p", settings=settings)
    assert labbook.run is run
    labbook.log({"a": 1.0})
    labbook.log({"a": 2.0}, sync=False)  # wandb's deprecated flag: accepted, no effect
    run.log({"a": 3.0}, sync=True)
    labbook.finish()
    assert labbook.run is None
    assert list(api.run(run.path).history()["a"]) == [1.0, 2.0, 3.0]
    with pytest.raises(labbook.UsageError):
        run.log({"a": 4.0})


# ----- limits (labbook.limits): refused at the call, so no store or server refuses them later

MiB = 1 << 20


def _nested_list(levels: int) -> list[object]:
    out: list[object] = [1]
    for _ in range(levels - 1):
        out = [out]
    return out


REFUSED_ROWS = [
    ({"k" * 10_000: 1.0}, "'" + "k" * 60 + "…(10,000 characters)'", "at most 512 characters"),
    ({"acc\x00top1": 1.0}, r"'acc\x00top1'", "NUL character"),
    ({"loss\n": 1.0}, r"'loss\n'", "control character U+000A"),
    ({"text": "x" * (17 * MiB)}, "'text'", "17.0 MiB is larger than the 4 MiB"),
    ({"text": "a\x00b"}, "'text'", "NUL character"),
    ({"labels": ["cat", "d\x00g"]}, "'labels'[1]", "NUL character"),
    ({"big": [0.5] * 600_000}, "'big'", "a list of"),
    ({"deep": _nested_list(33)}, "'deep", "levels"),
    ({"a" * 300: {"b" * 300: 1.0}}, "'" + "a" * 60 + "…", "at most 512 characters"),
    ({f"k{i}": 1.0 for i in range(10_001)}, "10,001 keys", "at most 10,000"),
    ({"_runtime": 1.0}, "'_runtime'", "reserved"),
]


@pytest.mark.parametrize(("row", "named", "why"), REFUSED_ROWS)
def test_log_refuses_what_a_store_would_refuse_naming_the_key_shortened(
    settings: Settings, api: Api, row: dict[str, object], named: str, why: str
) -> None:
    run = labbook.init(project="p", settings=settings)
    run.log({"loss": 1.0})
    with pytest.raises(ValueError) as caught:
        run.log(row)
    msg = str(caught.value)
    assert named in msg and why in msg, msg
    assert len(msg) < 300  # a 10,000-character key is not printed whole
    run.log({"loss": 0.5})  # the run goes on; the refused call took no step
    run.finish()
    r = api.run(run.path)
    assert r.state == "finished"
    h = r.history()
    assert list(h["_step"]) == [0, 1] and list(h["loss"]) == [1.0, 0.5]


def test_values_at_the_limits_are_logged_and_stored(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    at_limit = {
        "k" * 512: 1.0,
        "text": "é" * (2 * MiB),  # 4 MiB of UTF-8
        "lines": "a\tb\nc",
        "mixed": [1, "two", [3.0]],
        "ünïcode/键": 2.0,
    }
    run.log(at_limit)
    run.finish()
    h = api.run(run.path).history()
    assert h["k" * 512][0] == 1.0 and len(h["text"][0]) == 2 * MiB
    assert h["lines"][0] == "a\tb\nc" and h["mixed"][0] == [1, "two", [3.0]]
    assert h["ünïcode/键"][0] == 2.0


def test_keys_are_checked_once_yet_every_new_key_is_checked(settings: Settings) -> None:
    run = labbook.init(project="p", settings=settings)
    for i in range(3):
        run.log({"a": float(i), "b": 1.0})
    assert run._known_keys >= {"a", "b"}
    with pytest.raises(ValueError, match="NUL"):
        run.log({"a": 1.0, "b\x00": 2.0})
    with pytest.raises(ValueError, match="at most 512"):
        run.log({"a": {"b" * 600: 2.0}})  # a known prefix, a new nested key
    assert "b\x00" not in run._known_keys
    run.finish()


def test_a_merged_row_stays_one_record(settings: Settings, api: Api) -> None:
    """Rows merged at one step (``commit=False``, the same ``step``) are one record: their sum
    is checked against ``MAX_RECORD_BYTES``, and a refused part leaves the row as it was."""
    run = labbook.init(project="p", settings=settings)
    for i in range(3):
        run.log({f"t{i}": chr(97 + i) * (4 * MiB)}, commit=False)
    with pytest.raises(ValueError, match=r"row of 16\.0 MiB is larger than the 15 MiB"):
        run.log({"t3": "d" * (4 * MiB)}, commit=False)
    with pytest.raises(ValueError, match="larger than the 15 MiB"):
        run.log({"t3": "d" * (4 * MiB)}, step=0)
    run.log({"loss": 1.0})
    run.finish()
    h = api.run(run.path).history()
    assert list(h["_step"]) == [0]
    assert [len(h[f"t{i}"][0]) for i in range(3)] == [4 * MiB] * 3 and "t3" not in h
    assert h["loss"][0] == 1.0


def test_config_summary_and_run_fields_refuse_and_keep_nothing(
    settings: Settings, api: Api
) -> None:
    with pytest.raises(ValueError, match="config key 'a\\\\x00'"):
        labbook.init(project="p", settings=settings, config={"a\x00": 1})
    with pytest.raises(ValueError, match="tag"):
        labbook.init(project="p", settings=settings, tags=["x" * 300])
    assert labbook.run is None
    run = labbook.init(project="p", settings=settings, config={"lr": 0.1})
    with pytest.raises(ValueError, match=r"'opt\.betas\[1\]'.*NUL"):
        run.config.update({"bs": 32, "opt": {"betas": ["0.9", "0\x00"]}})
    with pytest.raises(ValueError, match="at most 32 levels"):
        deep: object = 1
        for _ in range(40):
            deep = {"a": deep}
        run.config["deep"] = deep
    with pytest.raises(ValueError, match="4 MiB"):
        run.config["data"] = list(range(1_000_000))
    with pytest.raises(ValueError, match="summary key"):
        run.summary.update({"best": 1.0, "k" * 600: 2.0})
    with pytest.raises(ValueError, match="name"):
        run.name = "n" * 257
    with pytest.raises(ValueError, match="notes"):
        run.notes = "a\x00b"
    with pytest.raises(ValueError, match="tag"):
        run.tags = ["ok", "b\x00d"]
    with pytest.raises(ValueError, match="define_metric"):
        run.define_metric("acc\x00*")
    assert run.config.as_dict() == {"lr": 0.1} and "best" not in run.summary
    run.config["bs"] = 32
    run.summary["best"] = 0.5
    run.finish()
    r = api.run(run.path)
    assert r.config == {"lr": 0.1, "bs": 32} and r.summary["best"] == 0.5
    assert r.state == "finished"


def test_rows_at_the_record_limit_logged_back_to_back_all_reach_the_journal(
    settings: Settings,
) -> None:
    """Six 12 MiB rows within one flush interval: one frame would pass the 64 MiB a reader takes
    (it read such a journal as damaged from that frame on: here, the whole run)."""
    from labbook.sdk.journal import read_records

    run = labbook.init(project="p", mode="offline", settings=settings)
    big = "x" * (4 * MiB - 100)
    for _ in range(6):
        run.log({"a": big, "b": big, "c": big})
    run.log({"after": 1.0})
    run.finish()
    recs = [rec for _, _, rec in read_records(run.journal_dir / "run.lbj")]
    rows = [rec["d"] for rec in recs if rec["t"] == "h"]
    assert [len(d.get("a", "")) for d in rows] == [len(big)] * 6 + [0]
    assert rows[-1] == {"after": 1.0} and recs[-1]["t"] == "exit"
