"""Wire schemas of the dashboard's project-wide reads: keys, the columnar runs table, parameter
importance and bulk deletion."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from labbook.store.table import KeyStats

JsonType = Literal["number", "string", "bool", "null", "object", "array"]


class ConfigKeyOut(BaseModel):
    key: str = Field(description="path in the config, nested keys joined by '.'")
    types: list[JsonType]
    distinct: int = Field(description="distinct values, counted up to 1000")
    runs: int = Field(description="runs that hold the key")

    @classmethod
    def of(cls, k: KeyStats) -> ConfigKeyOut:
        return cls(key=k.key, types=k.types, distinct=k.distinct or 0, runs=k.runs)  # type: ignore[arg-type]


class SummaryKeyOut(BaseModel):
    key: str
    types: list[JsonType]
    runs: int

    @classmethod
    def of(cls, k: KeyStats) -> SummaryKeyOut:
        return cls(key=k.key, types=k.types, runs=k.runs)  # type: ignore[arg-type]


class MetricKeyOut(BaseModel):
    key: str
    runs: int


class KeysOut(BaseModel):
    config: list[ConfigKeyOut]
    summary: list[SummaryKeyOut]
    metrics: list[MetricKeyOut]


class ColumnsOut(BaseModel):
    total: int = Field(description="runs matching the filters (beyond limit too)")
    ids: list[str] = Field(description="run ids in table order")
    columns: dict[str, list[Any]] = Field(
        description="each selected field's values, one per id (null where a run lacks it); "
        "times as ISO 8601 strings, runtime in seconds"
    )
    warnings: list[str] = Field(
        description="fields of select, filters or order that no run of the project has"
    )


class BulkDeleteOut(BaseModel):
    deleted: list[str]
    missing: list[str] = Field(description="ids the project does not hold")


class ParamImportanceOut(BaseModel):
    key: str = Field(description="config path")
    type: Literal["number", "category"]
    correlation: float | None = Field(
        description="Pearson correlation with the metric (numbers; null if undefined)"
    )
    importance: float = Field(description="share of the tree model's variance reduction, 0..1")


class ImportanceOut(BaseModel):
    metric: str
    runs: int = Field(description="runs with a finite value of the metric that were used")
    params: list[ParamImportanceOut]
