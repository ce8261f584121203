"""labbook.watch on a real PyTorch model: gradient and weight histograms in the run's history."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import labbook  # noqa: E402
from labbook import Api, Settings  # noqa: E402
from labbook.integrations.torch import unwatch, watch  # noqa: E402


def _train(model: object, steps: int, run: labbook.Run) -> None:
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)  # type: ignore[attr-defined]
    x = torch.randn(32, 4)
    y = torch.randint(0, 3, (32,))
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)  # type: ignore[operator]
        loss.backward()
        opt.step()
        run.log({"loss": float(loss.detach())})


def test_watch_logs_gradient_and_parameter_histograms(tmp_path: Path) -> None:
    settings = Settings(dir=tmp_path / "data", capture_requirements=False, system_metrics=False)
    run = labbook.init(project="torch", settings=settings)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    watch(model, log="all", log_freq=5)
    _train(model, 21, run)
    weight = model[0].weight.detach().numpy().copy()
    unwatch(model)
    _train(model, 5, run)  # no hooks any more: no new histograms
    run.finish()
    with Api(settings) as api:
        h = api.run(run.path).history()
    for key in ("gradients/0.weight", "gradients/2.bias", "parameters/0.weight"):
        assert key in h.columns, key
    grads = h[h["gradients/0.weight"].notna()]
    # Every 5th backward pass is binned and logged with the next forward pass's row.
    assert list(grads["_step"]) == [5, 10, 15, 20]
    ref = grads["gradients/0.weight"].iloc[0]
    assert ref["_type"] == "histogram" and len(ref["bins"]) == 65 and sum(ref["values"]) == 32
    params = h[h["parameters/0.weight"].notna()]
    assert list(params["_step"]) == [4, 9, 14, 19]
    assert sum(params["parameters/0.weight"].iloc[-1]["values"]) == weight.size


def test_watch_validates_its_arguments(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    with pytest.raises(labbook.UsageError, match="init"):
        watch(model)
    labbook.init(project="torch", settings=Settings(dir=tmp_path / "data", system_metrics=False))
    with pytest.raises(labbook.UsageError, match="log must be"):
        watch(model, log="weights")
    with pytest.raises(labbook.UsageError, match="log_freq"):
        watch(model, log_freq=0)
    with pytest.raises(labbook.UsageError, match=r"nn\.Module"):
        watch(object())


@pytest.mark.parametrize(
    ("log", "present", "absent"),
    [
        ("gradients", "gradients/", "parameters/"),
        ("parameters", "parameters/", "gradients/"),
    ],
)
def test_watch_logs_only_what_it_is_asked_for(
    tmp_path: Path, log: str, present: str, absent: str
) -> None:
    settings = Settings(dir=tmp_path / "data", capture_requirements=False, system_metrics=False)
    run = labbook.init(project="torch", settings=settings)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    watch(model, log=log, log_freq=2)
    _train(model, 6, run)
    run.finish()
    with Api(settings) as api:
        columns = list(api.run(run.path).history().columns)
    assert {c for c in columns if c.startswith(present)} == {
        f"{present}{n}" for n in ("0.weight", "0.bias", "2.weight", "2.bias")
    }
    assert not [c for c in columns if c.startswith(absent)]
