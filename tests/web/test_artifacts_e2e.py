"""The artifact pages end to end: a real ``labbook server`` (PostgreSQL where
``LABBOOK_TEST_POSTGRES_URL`` is set, else SQLite) with login on, seeded through the REST API as
the SDK would (blobs the server lacks uploaded after a 409 ``blobs_missing``, then the version
posted again): a dataset used by a training run that logs a model and predictions, and an
evaluation run that uses the predictions. Chromium then browses a version's files and previews
one, edits its aliases, follows the lineage graph dataset → training run → model and predictions
→ evaluation run, and opens the model registry after a version is linked to it.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_dashboard_e2e import PASSWORD, USER, _shot, login_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = "vision"
EMPTY_PROJECT = "scratch"
TRAIN, EVAL = "train01", "eval01"
TIMEOUT_MS = 20_000


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (the image preview must decode it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


LABELS = "image,label\n" + "".join(f"images/{i}.png,{i % 10}\n" for i in range(3))
DATASET: dict[str, bytes] = {
    "README.md": b"# mnist subset\nThree images and their labels.\n",
    "train/labels.csv": LABELS.encode(),
    "train/images/0.png": png(16, 16, (200, 40, 40)),
    "train/images/1.png": png(16, 16, (40, 200, 40)),
}
REFERENCE = {
    "path": "raw/full.tar",
    "digest": "9b2cf535f27731c974343645a3985328",
    "size": 52_428_800,
    "ref": "s3://datasets/mnist/full.tar",
}
MODEL = {"model.pt": b"\x80\x04weights" + bytes(range(256)) * 4}
PREDICTIONS = {"predictions.csv": b"image,pred\nimages/0.png,0\nimages/1.png,1\n"}


@dataclass
class Seeded:
    url: str
    key: str
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → VersionOut

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        )


def _entries(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [
        {"path": p, "digest": hashlib.sha256(b).hexdigest(), "size": len(b)}
        for p, b in files.items()
    ]


def _log_version(
    api: httpx.Client,
    name: str,
    kind: str,
    files: dict[str, bytes],
    run: str | None = None,
    extra: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Commit a version as the SDK does: post it, upload what the server says is missing,
    post again."""
    body: dict[str, Any] = {"type": kind, "entries": _entries(files) + (extra or []), **fields}
    if run is not None:
        body["run"] = run
    url = f"/projects/{USER}/{PROJECT}/artifacts/{name}/versions"
    r = api.post(url, json=body)
    if r.status_code == 409:
        answer = r.json()
        assert answer["error"]["code"] == "blobs_missing", answer
        missing = answer["error"].get("missing", answer.get("missing"))
        by_digest = {hashlib.sha256(b).hexdigest(): b for b in files.values()}
        assert set(missing) <= set(by_digest), missing
        for digest in missing:
            up = api.put(f"/projects/{USER}/{PROJECT}/blobs/{digest}", content=by_digest[digest])
            assert up.status_code == 200, up.text
        r = api.post(url, json=body)
    assert r.status_code == 201, r.text
    version: dict[str, Any] = r.json()
    return version


def _use(api: httpx.Client, run: str, name: str, ref: str) -> None:
    r = api.post(
        f"/projects/{USER}/{PROJECT}/runs/{run}/artifacts/used",
        json={"entity": USER, "project": PROJECT, "name": name, "ref": ref},
    )
    assert r.status_code in (200, 201), r.text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    tmp = tmp_path_factory.mktemp("artifacts")
    with login_server(tmp, "art") as (url, key, _):
        out = Seeded(url=url, key=key)
        with out.client() as api:
            for rid, name in ((TRAIN, "train-resnet"), (EVAL, "evaluate")):
                r = api.put(f"/projects/{USER}/{PROJECT}/runs/{rid}", json={"name": name})
                assert r.status_code in (200, 201), r.text
            r = api.put(f"/projects/{USER}/{EMPTY_PROJECT}/runs/lonely", json={})
            assert r.status_code in (200, 201), r.text
            out.versions["mnist"] = _log_version(
                api,
                "mnist",
                "dataset",
                DATASET,
                extra=[REFERENCE],
                description="a small subset of mnist",
                metadata={"rows": 3, "source": {"name": "mnist", "split": "train"}},
            )
            _use(api, TRAIN, "mnist", "latest")
            out.versions["classifier"] = _log_version(
                api, "classifier", "model", MODEL, run=TRAIN, aliases=["candidate"]
            )
            out.versions["predictions"] = _log_version(
                api, "predictions", "predictions", PREDICTIONS, run=TRAIN
            )
            _use(api, EVAL, "predictions", "v0")
            for rid in (TRAIN, EVAL):
                run_url = f"/projects/{USER}/{PROJECT}/runs/{rid}"
                r = api.patch(run_url, json={"state": "finished"})
                assert r.status_code == 200, r.text
        yield out


def _login(page: Any, site: Seeded) -> None:
    r = page.context.request.post(
        site.url + "/api/v1/session", data={"username": USER, "password": PASSWORD}
    )
    assert r.ok, r.text()


def _wait_nodes(page: Any, count: int) -> None:
    """Until the lineage graph on the page draws ``count`` nodes."""
    page.wait_for_function(
        "n => document.querySelectorAll('svg[aria-label=\"lineage graph\"] a').length === n",
        arg=count,
        timeout=TIMEOUT_MS,
    )


def _version_url(site: Seeded, name: str, ref: str = "v0", query: str = "") -> str:
    return f"{site.url}/{USER}/{PROJECT}/artifacts/{name}/{ref}{query}"


# ---------------------------------------------------------------------------------- the tests
def test_the_project_lists_its_artifacts_by_type(site: Seeded, page: Any) -> None:
    _login(page, site)
    page.goto(f"{site.url}/{USER}/{PROJECT}")
    page.get_by_role("link", name="Artifacts", exact=True).click()
    page.wait_for_url(f"{site.url}/{USER}/{PROJECT}/artifacts")
    kinds = {"dataset": "mnist", "model": "classifier", "predictions": "predictions"}
    for kind, name in kinds.items():
        section = page.get_by_role("region", name=f"{kind} artifacts")
        section.get_by_role("link", name=name, exact=True).wait_for(timeout=TIMEOUT_MS)
    model = page.get_by_role("region", name="model artifacts").locator("tbody tr")
    assert model.count() == 1
    cells = model.locator("td").all_inner_texts()
    assert cells[1] == "1"  # versions
    assert cells[2].split() == ["v0", "candidate"]  # the latest, with its alias
    assert "train-resnet" in cells[5]  # logged by
    _shot(page, "artifacts")
    # the collection page: its versions, each linking to its page
    page.get_by_role("link", name="mnist", exact=True).click()
    page.wait_for_url(f"{site.url}/{USER}/{PROJECT}/artifacts/mnist")
    rows = page.get_by_role("table", name="versions").locator("tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1
    assert rows.first.locator("td").nth(3).inner_text() == str(len(DATASET) + 1)
    rows.first.get_by_role("link", name="v0").click()
    page.wait_for_url(_version_url(site, "mnist"))
    # a project without artifacts says how to log one
    page.goto(f"{site.url}/{USER}/{EMPTY_PROJECT}/artifacts")
    empty = page.locator(".empty")
    empty.get_by_text("run.log_artifact(artifact)", exact=False).wait_for(timeout=TIMEOUT_MS)
    assert f'project="{EMPTY_PROJECT}"' in empty.inner_text()


def test_a_version_shows_its_files_previews_and_downloads(site: Seeded, page: Any) -> None:
    _login(page, site)
    mnist = site.versions["mnist"]
    page.goto(_version_url(site, "mnist"))
    page.get_by_role("heading", name="mnist:v0").wait_for(timeout=TIMEOUT_MS)
    body = page.locator(".page").inner_text()
    assert mnist["digest"] in body and "a small subset of mnist" in body
    kv = dict(
        zip(
            page.locator(".kv td:nth-child(1)").all_inner_texts(),
            page.locator(".kv td:nth-child(2)").all_inner_texts(),
            strict=True,
        )
    )
    assert kv == {"rows": "3", "source.name": "mnist", "source.split": "train"}
    used = page.get_by_role("table", name="used by")
    assert used.get_by_role("link", name="train-resnet").get_attribute("href") == (
        f"/{USER}/{PROJECT}/runs/{TRAIN}"
    )

    # files: folders first, then the files of the top level
    page.get_by_role("tab", name=re.compile("^Files")).click()
    files = page.get_by_role("listbox", name="files")
    files.get_by_role("option", name="folder train").wait_for(timeout=TIMEOUT_MS)
    top = files.get_by_role("option").evaluate_all(
        "os => os.map(o => o.firstElementChild.textContent)"
    )
    assert top == ["raw/", "train/", "README.md"]
    files.get_by_role("option", name="folder train").click()
    assert "dir=train" in page.url
    files.get_by_role("option", name=re.compile("^labels.csv")).click()
    preview = page.locator("pre.preview")
    preview.wait_for(timeout=TIMEOUT_MS)
    assert preview.inner_text().rstrip("\n") == LABELS.rstrip("\n")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download").click()
    assert dl.value.suggested_filename == "labels.csv"
    assert Path(dl.value.path()).read_bytes() == DATASET["train/labels.csv"]

    # an image previews as itself
    files.get_by_role("option", name="folder images").click()
    files.get_by_role("option", name=re.compile("^0.png")).click()
    img = page.locator(".preview img")
    img.wait_for()
    page.wait_for_function("() => document.querySelector('.preview img')?.naturalWidth === 16")
    _shot(page, "artifact-files")

    # a reference shows its URI and offers nothing to download
    page.goto(_version_url(site, "mnist", query="?tab=files&file=raw/full.tar"))
    page.get_by_text(REFERENCE["ref"], exact=True).wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("link", name="Download").count() == 0


def test_aliases_are_added_and_removed_in_place(site: Seeded, page: Any) -> None:
    _login(page, site)
    page.goto(_version_url(site, "classifier"))
    group = page.get_by_role("group", name="aliases of classifier:v0")
    group.get_by_text("candidate").wait_for(timeout=TIMEOUT_MS)
    group.get_by_role("button", name="+ alias").click()
    field = page.get_by_label("new alias")
    field.fill("v7")  # a version's name is no alias: said at once, nothing sent
    field.press("Enter")
    group.get_by_role("alert").filter(has_text="vN names a version").wait_for()
    field.fill("best")
    field.press("Enter")
    group.get_by_role("button", name="remove alias best").wait_for(timeout=TIMEOUT_MS)
    with site.client() as api:
        got = api.get(f"/projects/{USER}/{PROJECT}/artifacts/classifier/v0").json()["aliases"]
        assert {"candidate", "best"} <= set(got)
        group.get_by_role("button", name="remove alias candidate").click()
        page.wait_for_function(
            "() => !document.querySelector('[aria-label=\"remove alias candidate\"]')"
        )
        got = api.get(f"/projects/{USER}/{PROJECT}/artifacts/classifier/v0").json()["aliases"]
        assert "candidate" not in got and "best" in got
        # the alias names the version in a URL
        page.goto(_version_url(site, "classifier", "best"))
        page.get_by_role("heading", name="classifier:v0").wait_for(timeout=TIMEOUT_MS)


def test_the_lineage_graph_follows_the_data(site: Seeded, page: Any) -> None:
    _login(page, site)
    page.goto(_version_url(site, "mnist", query="?tab=lineage"))
    graph = page.get_by_role("group", name="lineage graph")
    graph.wait_for(timeout=TIMEOUT_MS)
    ids = {
        "mnist": f"artifact:{USER}/{PROJECT}/mnist:v0",
        "train": f"run:{USER}/{PROJECT}/{TRAIN}",
        "model": f"artifact:{USER}/{PROJECT}/classifier:v0",
        "preds": f"artifact:{USER}/{PROJECT}/predictions:v0",
        "eval": f"run:{USER}/{PROJECT}/{EVAL}",
    }
    nodes = graph.locator("a[data-node]")
    _wait_nodes(page, 5)
    layers = {
        nodes.nth(i).get_attribute("data-node"): int(nodes.nth(i).get_attribute("data-layer"))
        for i in range(nodes.count())
    }
    assert layers == {
        ids["mnist"]: 0,
        ids["train"]: 1,
        ids["model"]: 2,
        ids["preds"]: 2,
        ids["eval"]: 3,
    }
    edges = set(graph.locator("path[data-edge]").evaluate_all("ps => ps.map(p => p.dataset.edge)"))
    assert edges == {
        f"{ids['mnist']} -> {ids['train']}",
        f"{ids['train']} -> {ids['model']}",
        f"{ids['train']} -> {ids['preds']}",
        f"{ids['preds']} -> {ids['eval']}",
    }
    # the version the page is about is the highlighted root
    root = graph.locator("a[aria-current=page]")
    assert root.get_attribute("data-node") == ids["mnist"]
    # left to right: each layer's nodes sit right of the layer before
    xs = {
        nid: float(graph.locator(f'a[data-node="{nid}"] rect').first.get_attribute("x"))
        for nid in ids.values()
    }
    assert xs[ids["mnist"]] < xs[ids["train"]] < xs[ids["model"]] == xs[ids["preds"]]
    assert xs[ids["preds"]] < xs[ids["eval"]]
    _shot(page, "lineage")

    # depth 1: the dataset and the run that used it
    page.get_by_label("lineage depth").select_option("1")
    _wait_nodes(page, 2)
    assert "depth=1" in page.url

    # a node is a link: the evaluation run's page, whose lineage and artifacts show the same
    page.get_by_label("lineage depth").select_option("3")
    graph.locator(f'a[data-node="{ids["eval"]}"]').click()
    page.wait_for_url(re.compile(rf"/{USER}/{PROJECT}/runs/{EVAL}"))
    page.get_by_role("heading", name="evaluate").wait_for(timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="Artifacts").click()
    used = page.get_by_role("region", name="used artifacts")
    used.get_by_role("link", name="predictions:v0").wait_for(timeout=TIMEOUT_MS)
    assert page.get_by_role("region", name="logged artifacts").get_by_role("link").count() == 0
    page.get_by_role("tab", name="Lineage").click()
    run_graph = page.get_by_role("group", name="lineage graph")
    run_graph.wait_for(timeout=TIMEOUT_MS)
    assert run_graph.locator("a[aria-current=page]").get_attribute("data-node") == ids["eval"]
    assert run_graph.locator(f'a[data-node="{ids["preds"]}"]').count() == 1
    # and back to a version from the run's graph
    run_graph.locator(f'a[data-node="{ids["preds"]}"]').click()
    page.wait_for_url(re.compile(rf"/{USER}/{PROJECT}/artifacts/predictions/v0"))
    page.get_by_role("heading", name="predictions:v0").wait_for(timeout=TIMEOUT_MS)


def test_the_registry_lists_a_linked_model(site: Seeded, page: Any) -> None:
    _login(page, site)
    # nothing registered yet: the page says how to link a version
    page.goto(f"{site.url}/registry")
    page.wait_for_url(f"{site.url}/registry/{USER}")
    page.get_by_text("has no registered models yet").wait_for(timeout=TIMEOUT_MS)
    with site.client() as api:
        r = api.post(
            f"/registry/{USER}/digit-classifier/versions",
            json={
                "artifact": {"entity": USER, "project": PROJECT, "name": "classifier", "ref": "v0"},
                "aliases": ["production"],
            },
        )
        assert r.status_code == 201, r.text
    page.reload()
    models = page.get_by_role("table", name="registered models")
    row = models.locator("tr", has=page.get_by_role("link", name="digit-classifier", exact=True))
    row.wait_for(timeout=TIMEOUT_MS)
    assert " ".join(row.inner_text().split()).startswith("digit-classifier production → v0 1")
    _shot(page, "registry")
    row.get_by_role("link", name="digit-classifier", exact=True).click()
    page.wait_for_url(f"{site.url}/registry/{USER}/digit-classifier")
    versions = page.get_by_role("table", name="model versions").locator("tbody tr")
    versions.first.wait_for(timeout=TIMEOUT_MS)
    assert versions.count() == 1
    assert "production" in versions.first.inner_text()
    versions.first.get_by_role("link", name="classifier:v0").click()
    page.wait_for_url(_version_url(site, "classifier"))
    page.get_by_role("heading", name="classifier:v0").wait_for(timeout=TIMEOUT_MS)
