"""Wire schema of the many-run chart read (``GET .../envelopes``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class SeriesEnvelopeOut(BaseModel):
    """One run's key: per non-empty bucket, the first/last point, min, max and count.

    Arrays are aligned, one item per non-empty bucket; values are numbers (non-finite ones as
    "NaN"/"Infinity"/"-Infinity" in JSON, exact float64 in msgpack).
    """

    run: str
    key: str
    step_min: int = Field(description="first step of the range the buckets split")
    step_max: int
    buckets: int
    bucket_lo: list[int] = Field(description="first step each bucket covers")
    first_step: list[int]
    last_step: list[int]
    first: list[Any]
    last: list[Any]
    min: list[Any]
    max: list[Any]
    count: list[int]
    first_time: list[Any] = Field(description="wall time (unix seconds) of the first point")
    last_time: list[Any] = Field(description="wall time (unix seconds) of the last point")
    rt_first: list[Any] = Field(description="first_time in seconds since the run started")
    rt_last: list[Any] = Field(description="last_time in seconds since the run started")


class EnvelopesOut(BaseModel):
    series: list[SeriesEnvelopeOut] = Field(
        description="in run order, then key order; runs that never logged a number under a key "
        "have no series for it"
    )
    runs_total: int = Field(
        description="runs chosen: the ids found, or all runs the filter matches"
    )
