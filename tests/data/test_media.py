"""Images, tables and histograms: encoding, limits, and what log() stores (read back for real)."""

from __future__ import annotations

import hashlib
import io
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

import labbook
from labbook import Api, Histogram, Image, Settings, Table
from labbook.blobs import open_blobstore
from labbook.data import media
from labbook.sdk.journal import JournalWriter, read_records


def _pixels(png: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(png)) as im:
        assert im.format == "PNG"
        return np.asarray(im)


def _blob(settings: Settings, sha: str) -> bytes:
    return b"".join(open_blobstore(settings.resolved_blobs_uri()).open_read(sha))


# ----------------------------------------------------------------------------------- Image


def test_uint8_rgb_and_rgba_are_stored_as_is() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (4, 3, 4), dtype=np.uint8)
    assert np.array_equal(_pixels(Image(rgb).png()), rgb)
    assert np.array_equal(_pixels(Image(rgba).png()), rgba)
    img = Image(rgb)
    assert (img.width, img.height, img.mode) == (7, 5, "RGB")


def test_grayscale_hw_and_hw1() -> None:
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    assert np.array_equal(_pixels(Image(g).png()), g)
    assert Image(g).mode == "L"
    assert np.array_equal(_pixels(Image(g[:, :, None]).png()), g)


def test_floats_in_unit_range_are_scaled_by_255_and_rounded() -> None:
    f = np.array([[0.0, 0.5, 1.0], [0.25, 0.999, 0.001]])
    expected = np.rint(f * 255).astype(np.uint8)
    assert np.array_equal(_pixels(Image(f).png()), expected)
    assert expected[0, 1] == 128  # 127.5 rounds to even: documents "nearest"


def test_other_float_ranges_are_min_max_normalised() -> None:
    f = np.array([[-2.0, 0.0], [2.0, 6.0]])
    expected = np.rint((f + 2.0) / 8.0 * 255).astype(np.uint8)
    out = _pixels(Image(f).png())
    assert np.array_equal(out, expected)
    assert out.min() == 0 and out.max() == 255
    # NaN pixels become 0; the range is taken over the finite values
    g = np.array([[np.nan, 0.0], [0.5, 1.0]])
    assert np.array_equal(_pixels(Image(g).png()), np.array([[0, 0], [128, 255]], np.uint8))


def test_integer_and_bool_arrays() -> None:
    small = np.array([[0, 100], [200, 255]], dtype=np.int64)
    assert np.array_equal(_pixels(Image(small).png()), small.astype(np.uint8))
    wide = np.array([[0, 1000]], dtype=np.int32)
    assert np.array_equal(_pixels(Image(wide).png()), np.array([[0, 255]], np.uint8))
    b = np.array([[True, False]])
    assert np.array_equal(_pixels(Image(b).png()), np.array([[255, 0]], np.uint8))


def test_pil_image_path_caption_and_mode(tmp_path: Path) -> None:
    arr = np.random.default_rng(1).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    pil = PILImage.fromarray(arr)
    assert np.array_equal(_pixels(Image(pil).png()), arr)
    p = tmp_path / "x.png"
    pil.save(p)
    from_path = Image(p, caption="a cat")
    assert np.array_equal(_pixels(from_path.png()), arr)
    assert from_path.caption == "a cat"
    assert Image(str(p)).png() == from_path.png()
    gray = Image(arr, mode="L")
    assert gray.mode == "L" and _pixels(gray.png()).shape == (6, 5)


def test_torch_chw_tensor_is_transposed() -> None:
    torch = pytest.importorskip("torch")
    hwc = np.random.default_rng(6).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    chw = torch.from_numpy(np.ascontiguousarray(np.moveaxis(hwc, -1, 0)))
    assert np.array_equal(_pixels(Image(chw).png()), hwc)
    assert np.array_equal(_pixels(Image(torch.from_numpy(hwc)).png()), hwc)


def test_bad_image_arrays_raise() -> None:
    with pytest.raises(ValueError, match="HxW"):
        Image(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="HxW"):
        Image(np.zeros(5))
    with pytest.raises(ValueError, match="empty"):
        Image(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="dtype"):
        Image(np.array([["a", "b"]]))


# ----------------------------------------------------------------------------------- Table


def test_table_round_trip_keeps_nan_inf_none_and_strings() -> None:
    t = Table(columns=["a", "b", "c"])
    t.add_data(1, float("nan"), "x")
    t.add_data(np.int64(2), float("inf"), None)
    t.add_data(3, -float("inf"), "NaN")  # a string spelled like a token stays a string
    t.add_data(True, np.float32(0.5), "Infinity")
    raw = t.to_json()
    obj = __import__("json").loads(raw)  # strict JSON: no NaN tokens
    assert obj["data"][0][1] == "NaN" and obj["data"][1][1] == "Infinity"
    assert obj["data"][2][1] == "-Infinity"
    back = Table.from_json(raw)
    assert back == t
    assert math.isnan(back.data[0][1]) and back.data[1][1] == math.inf
    assert back.data[2][1] == -math.inf
    assert back.data[2][2] == "NaN" and back.data[3][2] == "Infinity"
    assert back.data[1][2] is None
    assert back.data[3][0] is True and type(back.data[1][0]) is int


def test_table_columns_and_validation() -> None:
    t = Table(columns=["x"], data=[[1], [2]])
    t.add_column("y", [10.0, 20.0])
    assert t.columns == ["x", "y"]
    assert t.get_column("y") == [10.0, 20.0]
    assert np.array_equal(t.get_column("x", convert_to="numpy"), np.array([1, 2]))
    with pytest.raises(ValueError, match="2 rows"):
        t.add_column("z", [1])
    with pytest.raises(ValueError, match="already"):
        t.add_column("x", [1, 2])
    with pytest.raises(ValueError, match="columns"):
        t.add_data(1)
    with pytest.raises(KeyError, match="nope"):
        t.get_column("nope")
    with pytest.raises(TypeError, match="column 'x'"):
        t.add_data(object(), 1.0)
    empty = Table()
    empty.add_column("a", [1, 2, 3])
    assert empty.data == [[1], [2], [3]]
    assert Table(data=np.zeros((2, 3))).columns == ["col0", "col1", "col2"]


def test_table_pandas_round_trip() -> None:
    df = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [0.5, np.nan, np.inf],
            "s": ["a", None, "c"],
            "b": [True, False, True],
        }
    )
    t = Table(dataframe=df)
    assert t.columns == ["i", "f", "s", "b"]
    assert t.data[1][2] is None and math.isnan(t.data[1][1])
    assert type(t.data[0][0]) is int and type(t.data[0][3]) is bool
    out = t.to_pandas()
    pd.testing.assert_frame_equal(out, df)
    pd.testing.assert_frame_equal(Table.from_json(t.to_json()).to_pandas(), df)


def test_table_row_limit() -> None:
    assert media.MAX_TABLE_ROWS == 100_000
    t = Table(columns=["a"], data=[[i] for i in range(100_000)])
    with pytest.raises(ValueError, match="100,000"):
        t.add_data(1)
    with pytest.raises(ValueError, match="100,000"):
        Table(columns=["a"], data=[[i] for i in range(100_001)])
    with pytest.raises(ValueError, match="100,000"):
        Table(dataframe=pd.DataFrame({"a": np.zeros(100_001)}))


# ----------------------------------------------------------------------------------- Histogram


def test_histogram_counts_equal_numpy_and_skip_non_finite() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=1000)
    h = Histogram(x, num_bins=20)
    counts, edges = np.histogram(x, bins=20)
    assert h.histogram == counts.tolist() and h.bins == edges.tolist()
    dirty = np.concatenate([x, [np.nan, np.inf, -np.inf]])
    hd = Histogram(dirty, num_bins=20)
    assert hd.histogram == counts.tolist() and hd.bins == edges.tolist()
    assert sum(hd.histogram) == 1000
    ref, files = hd._to_history("k", 0)
    assert files == []
    assert ref == {"_type": "histogram", "bins": edges.tolist(), "values": counts.tolist()}


def test_histogram_bin_limit_and_np_histogram() -> None:
    assert Histogram(np.arange(10), num_bins=512).num_bins == 512
    with pytest.raises(ValueError, match="512"):
        Histogram(np.arange(10), num_bins=513)
    c, e = np.histogram(np.arange(100), bins=7)
    h = Histogram(np_histogram=(c, e))
    assert h.histogram == c.tolist() and h.bins == e.tolist()
    with pytest.raises(ValueError, match="512"):
        Histogram(np_histogram=(np.zeros(600), np.arange(601)))
    with pytest.raises(ValueError, match="len"):
        Histogram(np_histogram=(np.zeros(3), np.arange(3)))
    with pytest.raises(ValueError):
        Histogram()


# ----------------------------------------------------------------------------------- log()


def test_media_path_is_safe() -> None:
    sha = "ab" * 32
    assert media.media_path("image", "val/pred", 3, sha, "png") == (
        f"media/image/val_pred_3_{sha[:8]}.png"
    )
    assert "/" not in media.media_path("image", "../../etc", 0, sha, "png")[len("media/image/") :]


def test_logged_image_table_histogram_are_references_with_files(
    settings: Settings, api: Api
) -> None:
    arr = np.random.default_rng(3).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    table = Table(columns=["a", "b"], data=[[1, float("nan")], [2, "two"]])
    x = np.random.default_rng(4).normal(size=500)
    run = labbook.init(project="p", settings=settings)
    run.log({"loss": 1.0})
    run.log({"val": {"img": Image(arr, caption="first")}, "tab": table, "h": Histogram(x)})
    run.finish()

    h = api.run(run.path).history()
    assert list(h["_step"]) == [0, 1]
    ref = h["val/img"][1]
    assert h["val/img"].dtype == object and h["val/img"][0] is None
    png = Image(arr).png()
    sha = hashlib.sha256(png).hexdigest()
    assert ref == {
        "_type": "image",
        "path": f"media/image/val_img_1_{sha[:8]}.png",
        "sha256": sha,
        "size": len(png),
        "format": "png",
        "width": 9,
        "height": 8,
        "mode": "RGB",
        "caption": "first",
    }
    files = {f.path: f for f in api.run(run.path).files()}
    assert files[ref["path"]].sha256 == sha and files[ref["path"]].size == len(png)
    assert np.array_equal(_pixels(_blob(settings, sha)), arr)
    assert (Path(run.dir) / ref["path"]).read_bytes() == png

    tref = h["tab"][1]
    assert tref["_type"] == "table" and tref["columns"] == ["a", "b"] and tref["nrows"] == 2
    assert tref["path"].startswith("media/table/tab_1_") and tref["path"].endswith(".json")
    assert files[tref["path"]].sha256 == tref["sha256"]
    assert Table.from_json(_blob(settings, tref["sha256"])) == table

    counts, edges = np.histogram(x, bins=64)
    assert h["h"][1] == {"_type": "histogram", "bins": edges.tolist(), "values": counts.tolist()}
    assert not any(p.startswith("media/histogram") for p in files)
    # the summary keeps the last reference, like any logged value
    assert api.run(run.path).summary["val/img"]["sha256"] == sha


def test_media_step_with_commit_false_and_explicit_step(settings: Settings, api: Api) -> None:
    img = np.zeros((2, 2), dtype=np.uint8)
    run = labbook.init(project="p", settings=settings)
    run.log({"a": 1.0})  # step 0
    run.log({"img": Image(img)}, commit=False)  # joins the row of step 1
    run.log({"b": 2.0})  # commits step 1
    run.log({"img2": Image(img + 1)}, step=7)
    run.log({"c": 3.0}, step=7)
    run.log({"img3": Image(img + 2)}, step=9, commit=False)
    run.log({"img4": Image(img + 3)})  # merges into step 9 and commits it
    with pytest.warns(UserWarning, match="lower"):
        run.log({"late": Image(img + 4)}, step=3)  # lower step: dropped, no file
    run.finish()

    h = api.run(run.path).history()
    rows = {int(s): i for i, s in enumerate(h["_step"])}
    assert sorted(rows) == [0, 1, 7, 9]
    assert h["img"][rows[1]]["path"].startswith("media/image/img_1_")
    assert h["b"][rows[1]] == 2.0
    assert h["img2"][rows[7]]["path"].startswith("media/image/img2_7_")
    assert h["c"][rows[7]] == 3.0
    assert h["img3"][rows[9]]["path"].startswith("media/image/img3_9_")
    assert h["img4"][rows[9]]["path"].startswith("media/image/img4_9_")
    assert "late" not in h.columns
    paths = [f.path for f in api.run(run.path).files() if f.path.startswith("media/")]
    assert len(paths) == 4 and not any("late" in p for p in paths)


def test_same_image_twice_is_one_blob(settings: Settings, api: Api) -> None:
    arr = np.full((4, 4, 3), 7, dtype=np.uint8)
    run = labbook.init(project="p", settings=settings)
    run.log({"a": Image(arr)})
    run.log({"a": Image(arr), "b": Image(arr.copy())})
    run.finish()
    h = api.run(run.path).history()
    refs = [h["a"][0], h["a"][1], h["b"][1]]
    assert len({r["path"] for r in refs}) == 3
    assert len({r["sha256"] for r in refs}) == 1
    sha = refs[0]["sha256"]
    blob_root = Path(open_blobstore(settings.resolved_blobs_uri()).root)
    assert [p.name for p in blob_root.rglob(sha)] == [sha]
    media_files = [f for f in api.run(run.path).files() if f.path.startswith("media/")]
    assert len(media_files) == 3 and {f.sha256 for f in media_files} == {sha}


def test_bad_media_value_raises_on_the_training_thread_naming_the_key(settings: Settings) -> None:
    class Broken:
        def _to_history(self, key: str, step: int) -> Any:
            raise ValueError("cannot encode")

    run = labbook.init(project="p", settings=settings)
    with pytest.raises(ValueError, match=r"'x/y'.*cannot encode"):
        run.log({"x": {"y": Broken()}})
    with pytest.raises(TypeError, match="'cfg'"):
        from labbook.data.values import flatten_into

        flatten_into({}, {"cfg": Image(np.zeros((1, 1), np.uint8))}, "")
    run.finish()


def test_media_log_does_no_file_io_on_the_training_thread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(5)
    run = labbook.init(project="p", settings=settings)
    # Build the values first (a path would be read here); their encoding happens inside log().
    values = [
        {
            "img": Image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)),
            "tab": Table(columns=["i"], data=[[i], [i + 1]]),
            "h": Histogram(rng.normal(size=100)),
            "cm": labbook.plot.confusion_matrix(y_true=[0, 1, 1], preds=[0, 1, i % 2]),
        }
        for i in range(20)
    ]
    main = threading.current_thread()
    calls: list[str] = []
    real_write, real_os_open, real_open, real_io_open = os.write, os.open, open, io.open

    def spy(name: str, real: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            if threading.current_thread() is main:
                calls.append(name)
            return real(*a, **k)

        return wrapper

    monkeypatch.setattr(os, "write", spy("os.write", real_write))
    monkeypatch.setattr(os, "open", spy("os.open", real_os_open))
    monkeypatch.setattr("builtins.open", spy("open", real_open))
    monkeypatch.setattr(io, "open", spy("io.open", real_io_open))
    for v in values:
        run.log(v)
    monkeypatch.undo()
    assert calls == []
    run.finish()
    written = sorted(p.relative_to(run.dir).as_posix() for p in Path(run.dir).rglob("media/*/*"))
    assert len([p for p in written if p.startswith("media/image/")]) == 20
    with Api(settings) as api:
        h = api.run(run.path).history()
        assert len(h) == 20
        for i in range(20):
            assert (Path(run.dir) / h["img"][i]["path"]).read_bytes() == values[i]["img"].png()


def test_writer_writes_bytes_before_journaling_the_file_record(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    journal = run_dir / "run.lbj"
    seen: list[bool] = []

    def on_flush(start: int, end: int, recs: list[dict[str, Any]]) -> None:
        for r in recs:
            seen.append((run_dir / "files" / r["path"]).is_file() and "_bytes" not in r)

    w = JournalWriter(journal, flush_interval=0.01, on_flush=on_flush)
    w.put({"t": "file", "path": "media/image/a.png", "sha256": "x", "size": 3, "_bytes": b"abc"})
    w.put({"t": "file", "path": "../escape.png", "sha256": "y", "size": 1, "_bytes": b"z"})
    w.close()
    assert (run_dir / "files" / "media" / "image" / "a.png").read_bytes() == b"abc"
    assert not (run_dir / "escape.png").exists()
    recs = [r for _, _, r in read_records(journal)]
    assert [r["path"] for r in recs] == ["media/image/a.png"]
    assert "_bytes" not in recs[0] and seen == [True]


def test_wandb_alias_logs_media(settings: Settings, api: Api) -> None:
    import labbook as wandb

    wandb.init(project="p", settings=settings)
    wandb.log(
        {
            "img": wandb.Image(np.zeros((3, 3), dtype=np.float32), caption="c"),
            "tbl": wandb.Table(columns=["a"], data=[[1]]),
            "hist": wandb.Histogram([1, 2, 3]),
            "cm": wandb.plot.confusion_matrix(y_true=[0, 1], preds=[1, 1], class_names=["n", "y"]),
        }
    )
    path = wandb.run.path
    wandb.finish()
    h = api.run(path).history()
    assert [h[k][0]["_type"] for k in ("img", "tbl", "hist", "cm")] == [
        "image",
        "table",
        "histogram",
        "plot",
    ]


def test_a_list_of_images_is_one_value_with_every_image_kept(settings: Settings, api: Api) -> None:
    """wandb scripts log sample predictions as ``{"examples": [wandb.Image(...), ...]}``."""
    rng = np.random.default_rng(5)
    arrays = [rng.integers(0, 256, (6, 7), dtype=np.uint8) for _ in range(3)]
    run = labbook.init(project="p", settings=settings)
    run.log({"examples": [Image(a, caption=f"pred {i}") for i, a in enumerate(arrays)]})
    run.log({"pair": (Histogram([1, 2, 3]), Histogram([4.0]))})  # tuples, inline media too
    run.finish()
    h = api.run(run.path).history()
    ref = h["examples"][0]
    assert ref["_type"] == "list" and ref["items_type"] == "image" and len(ref["items"]) == 3
    files = {f.path: f for f in api.run(run.path).files()}
    for i, (item, a) in enumerate(zip(ref["items"], arrays, strict=True)):
        assert item["caption"] == f"pred {i}" and files[item["path"]].sha256 == item["sha256"]
        assert np.array_equal(_pixels(_blob(settings, item["sha256"])), a)
    pair = h["pair"][1]
    assert pair["items_type"] == "histogram" and [sum(x["values"]) for x in pair["items"]] == [3, 1]


def test_media_lists_must_be_of_one_kind_and_are_capped(settings: Settings, api: Api) -> None:
    from labbook.data.values import MAX_MEDIA_ITEMS

    run = labbook.init(project="p", settings=settings)
    with pytest.raises(TypeError, match=r"'mixed'.*one kind"):
        run.log({"mixed": [Image(np.zeros((2, 2))), Histogram([1.0])]})
    with pytest.raises(TypeError, match=r"'mixed2'.*one kind"):
        run.log({"mixed2": [Image(np.zeros((2, 2))), 1.0]})
    with pytest.raises(TypeError, match=r"'mixed3\[1\]'"):
        run.log({"mixed3": [1.0, Image(np.zeros((2, 2)))]})
    many = [Image(np.full((2, 2), i % 256, dtype=np.uint8)) for i in range(MAX_MEDIA_ITEMS + 5)]
    with pytest.warns(UserWarning, match=f"only the first {MAX_MEDIA_ITEMS}"):
        run.log({"many": many})
    run.finish()
    (ref,) = [v for v in api.run(run.path).history()["many"] if isinstance(v, dict)]
    assert len(ref["items"]) == MAX_MEDIA_ITEMS


def test_a_prediction_table_with_images_keeps_every_image(settings: Settings, api: Api) -> None:
    """wandb's prediction table: ``table.add_data(wandb.Image(x), guess, truth)``."""
    rng = np.random.default_rng(9)
    inputs = [rng.integers(0, 256, (5, 5), dtype=np.uint8) for _ in range(3)]
    table = Table(columns=["image", "guess", "truth"])
    for i, x in enumerate(inputs):
        table.add_data(Image(x), i % 2, 1)
    run = labbook.init(project="p", settings=settings)
    run.log({"predictions": table})
    run.finish()
    ref = api.run(run.path).history()["predictions"][0]
    assert ref["nrows"] == 3 and ref["columns"] == ["image", "guess", "truth"]
    files = {f.path: f for f in api.run(run.path).files()}
    stored = Table.from_json(_blob(settings, ref["sha256"]))
    assert stored.get_column("guess") == [0, 1, 0]
    for cell, x in zip(stored.get_column("image"), inputs, strict=True):
        assert cell["_type"] == "image" and files[cell["path"]].sha256 == cell["sha256"]
        assert np.array_equal(_pixels(_blob(settings, cell["sha256"])), x)
    assert table.data[0][0].width == 5  # the table itself still holds the images
    with pytest.raises(TypeError, match=r"labbook\.Image"):
        table.add_data(Histogram([1.0]), 0, 0)
