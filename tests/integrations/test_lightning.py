"""LabbookLogger on a real (tiny) Lightning training run on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from labbook import Api, Settings  # noqa: E402
from labbook.integrations.lightning import LabbookLogger  # noqa: E402


class Tiny(pl.LightningModule):  # type: ignore[misc]
    def __init__(self, lr: float = 0.1, hidden: int = 8) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 3)
        )

    def training_step(self, batch: object, _i: int) -> object:
        x, y = batch  # type: ignore[misc]
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: object, _i: int) -> None:
        x, y = batch  # type: ignore[misc]
        acc = (self.net(x).argmax(1) == y).float().mean()
        self.log("val_acc", acc)

    def configure_optimizers(self) -> object:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _trainer(logger: LabbookLogger, tmp_path: Path, epochs: int) -> Any:
    return pl.Trainer(
        max_epochs=epochs,
        logger=logger,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )


@pytest.mark.slow
def test_lightning_logger_records_metrics_hparams_and_finishes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    settings = Settings(dir=tmp_path / "data", capture_requirements=False, system_metrics=False)
    logger = LabbookLogger(project="lightning", settings=settings)
    _trainer(logger, tmp_path, epochs=2).fit(Tiny(lr=0.05), data, data)
    with Api(settings) as api:
        run = api.run(f"lightning/{logger.version}")
        assert run.state == "finished"
        assert run.config["lr"] == 0.05 and run.config["hidden"] == 8
        h = run.history()
        train = h[h["train_loss"].notna()]
        assert len(train) == 8  # 4 batches x 2 epochs, one row per global step
        assert list(train["_step"]) == list(range(8))  # at Lightning's global step
        assert list(h[h["val_acc"].notna()]["epoch"]) == [0.0, 1.0]


@pytest.mark.slow
def test_lightning_logger_uses_the_active_run_and_leaves_it_open(tmp_path: Path) -> None:
    import labbook

    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    settings = Settings(dir=tmp_path / "data", capture_requirements=False, system_metrics=False)
    run = labbook.init(project="mine", config={"dataset": "random"}, settings=settings)
    logger = LabbookLogger(project="ignored")
    _trainer(logger, tmp_path, epochs=1).fit(Tiny(lr=0.05), data)
    assert logger.version == run.id and labbook.run is run  # still open: the script's to end
    run.log({"test_acc": 0.5})
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        assert stored.project == "mine" and stored.state == "finished"
        assert stored.config["dataset"] == "random" and stored.config["lr"] == 0.05
        assert stored.summary["test_acc"] == 0.5 and "train_loss" in stored.summary
