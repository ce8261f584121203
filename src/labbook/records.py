"""The journal's record kinds and their wire encoding, shared by the SDK and the Store.

A record is a plain ``dict`` with a kind under ``"t"`` and, once the writer framed it, a
monotonically increasing ``"seq"`` (1, 2, 3, ... per run). Records are encoded with msgpack
(msgspec): it is fast, and unlike JSON it keeps NaN and ±Inf bit for bit, which history needs.

Kinds and their fields (every field not marked optional is present):

``run``      run header, always seq 1 of a journal (and re-sent on resume):
             ``id, project, entity, name, tags, notes, group, job_type, config, started_at``
             (``resumed``: optional bool)
``h``        one history row: ``step`` (int), ``ts`` (unix seconds), ``rt`` (seconds since start),
             ``d`` {flat key: float | int | bool | str | None | dict (a media/plot reference)}
``config``   config update: ``u`` {key: value} (nested values kept nested)
``summary``  explicit summary writes: ``u`` {key: value}; optional ``del`` [keys]
``meta``     captured metadata: ``m`` {host, os, python, program, args, git, ...}
``update``   run attributes changed after init: any of ``name, tags, notes, group, job_type``
``file``     a run file: ``path`` (relative, ``/``-separated), ``sha256``, ``size``
``sys``      one system-metrics sample: like ``h`` (``step`` is the sample index, keys are
             ``system/*``), kept out of the summary
``hb``       heartbeat: ``ts``
``exit``     end of the run: ``code`` (int), ``ts``, ``state`` ("finished" | "failed" | "crashed")
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import operator
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import msgspec

RUN = "run"
HISTORY = "h"
SYSTEM = "sys"
CONFIG = "config"
SUMMARY = "summary"
META = "meta"
UPDATE = "update"
FILE = "file"
HEARTBEAT = "hb"
EXIT = "exit"


Record = dict[str, Any]


class HistoryRow(msgspec.Struct, gc=False):
    """An ``h`` record as ``Run.log`` makes it; encodes to the same msgpack map as the dict form.

    Why not a dict: a row lives from ``log()`` until the sender has stored it, a flush interval
    or more, which is long enough to be promoted to the GC's oldest generation. Promotions are
    what trigger full collections (a scan of every object in the process: tens of ms beside
    torch), on whichever thread allocates, holding the GIL, so they land inside ``log()``.
    ``gc=False`` keeps rows out of the collector altogether. A row holds only its values dict,
    which never refers back to it, so it cannot be part of a cycle.

    Item access (``row["seq"]``, ``row.get("t")``) lets the writer and the sender treat it like
    the other records; sinks that need real dicts call :func:`as_dicts`.
    """

    step: int
    ts: float
    rt: float
    d: dict[str, Any]
    t: str = HISTORY
    seq: int = 0

    def __getitem__(self, key: str) -> Any:
        if key in _ROW_FIELDS:
            return getattr(self, key)
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in _ROW_FIELDS:
            raise KeyError(key)
        setattr(self, key, value)

    def __contains__(self, key: object) -> bool:
        return key in _ROW_FIELDS

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in _ROW_FIELDS else default


_ROW_FIELDS = frozenset(HistoryRow.__struct_fields__)

row_seq = operator.attrgetter("seq")
row_step = operator.attrgetter("step")
row_ts = operator.attrgetter("ts")
row_values = operator.attrgetter("d")
"""Field getters for ``map`` over a list of rows: C calls, where ``row["seq"]`` would run
``HistoryRow.__getitem__`` in Python for each row (a quarter of a microsecond, times millions)."""


def split_structs(batch: Sequence[AnyRecord]) -> tuple[list[HistoryRow], list[Record]]:
    """The batch's :class:`HistoryRow` structs and its other records, each in order.

    Selected in C (``compress`` over type checks): a run's first batch is a few dict records
    (header, config, metadata) among thousands of rows, and a Python test per record cost the
    sender more than storing the rows.
    """
    is_row = list(map(operator.is_, map(type, batch), itertools.repeat(HistoryRow)))
    structs = list(itertools.compress(batch, is_row))
    others = list(itertools.compress(batch, map(operator.not_, is_row)))
    return cast(list[HistoryRow], structs), cast(list[Record], others)


def seqs_of(batch: Sequence[AnyRecord]) -> list[Any]:
    """Every record's ``seq``, in order (rows read by attribute, dicts by key)."""
    types = set(map(type, batch))
    if types == {HistoryRow}:
        return list(map(row_seq, batch))
    if HistoryRow not in types:
        return [r["seq"] for r in batch]
    first = next(i for i, r in enumerate(batch) if type(r) is HistoryRow)
    tail = batch[first:]
    if set(map(type, tail)) == {HistoryRow}:  # dict records, then rows: a run's first batch
        return [r["seq"] for r in batch[:first]] + list(map(row_seq, tail))
    return [r.seq if type(r) is HistoryRow else r["seq"] for r in batch]


def kinds_of(batch: Sequence[AnyRecord]) -> set[Any]:
    """The record kinds (``"t"``) present in ``batch``."""
    types = set(map(type, batch))
    if types == {HistoryRow}:
        return {HISTORY}
    if HistoryRow not in types:
        return {r.get("t") for r in batch}
    return {r.get("t") for r in split_structs(batch)[1]} | {HISTORY}


AnyRecord = Record | HistoryRow
"""What travels from ``Run`` through the journal writer and the sender to a sink."""


def as_dicts(batch: Iterable[AnyRecord]) -> list[Record]:
    """The plain-dict form of records (the form the Store ingests and readers decode)."""
    recs = batch if isinstance(batch, list) else list(batch)
    if HistoryRow not in set(map(type, recs)):  # a batch read back from a journal: all dicts
        return cast(list[Record], recs)
    return [_struct_dict(r) if isinstance(r, HistoryRow) else r for r in recs]


_struct_dict: Callable[[HistoryRow], Record] = msgspec.structs.asdict


# Journal framing: a file header, then frames of <u32 payload length> <u32 crc32> <u64 seq> payload
# The CRC covers seq and payload, so a torn tail or a damaged frame is detected and skipped.
FILE_MAGIC = b"LBJOURN1"
FRAME_HEADER = struct.Struct("<IIQ")
MAX_PAYLOAD = 64 * 1024 * 1024

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


def encode(record: AnyRecord) -> bytes:
    """One record's msgpack bytes (what the sinks send; also the encodability check)."""
    return _encoder.encode(record)


def encode_batch(batch: list[AnyRecord]) -> bytes:
    """A journal frame's payload: the records (each carrying its ``seq``) as one msgpack array.

    One encode and one CRC per writer flush instead of per record: the writer's CPU competes
    with the training thread for the GIL, so this is time given back to ``log()``.
    """
    return _encoder.encode(batch)


def decode_batch(payload: bytes) -> list[Record]:
    recs = _decoder.decode(payload)
    if isinstance(recs, dict):
        recs = [recs]
    # Type checks by set of types: one pass in C per check instead of a generator step per record.
    if (
        type(recs) is not list
        or not set(map(type, recs)) <= {dict}
        or not set(map(type, map(dict.get, recs, itertools.repeat("seq")))) <= {int}
    ):
        raise ValueError("journal payload is not a batch of records")
    return recs


_rows_decoder = msgspec.msgpack.Decoder(list[HistoryRow])
row_kind = operator.attrgetter("t")


def decode_frame(payload: bytes) -> list[AnyRecord]:
    """A frame's records, as :class:`HistoryRow` structs when it holds only history rows (the
    bulk of a journal), else as dicts like :func:`decode_batch`.

    A sender that fell behind reads its backlog from the file; rows decoded straight into the
    structs ``log()`` makes are stored through the same fast path as the ones handed over in
    memory, instead of as dicts (which cost the sender more than the training loop spends
    making them, so it never caught up).
    """
    try:
        rows: list[HistoryRow] = _rows_decoder.decode(payload)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return cast(list[AnyRecord], decode_batch(payload))
    # A system sample has the same fields as a row; any record but a row goes the general way.
    if not rows or set(map(row_kind, rows)) != {HISTORY}:
        return cast(list[AnyRecord], decode_batch(payload))
    return cast(list[AnyRecord], rows)


def iter_records(
    buf: bytes | memoryview,
    start: int = 0,
    *,
    final: bool = False,
    skipped: list[Skipped] | None = None,
) -> Iterator[tuple[int, int, Record]]:
    """Yield ``(end offset of its frame, seq, record)`` for each record of the intact frames."""
    for end, _, payload in iter_frames(buf, start, final=final, skipped=skipped):
        for rec in decode_batch(payload):
            yield end, rec["seq"], rec


def frame_header(seq: int, payload: bytes) -> bytes:
    """The header of ``payload``'s frame (``seq``: that of its first record)."""
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<Q", seq)))
    return FRAME_HEADER.pack(len(payload), crc, seq)


def frame(seq: int, payload: bytes) -> bytes:
    """One frame (``seq``: that of its first record), ready to append to a journal file."""
    return frame_header(seq, payload) + payload


@dataclass(frozen=True)
class Skipped:
    """Bytes of a journal that no reader could use: a damaged region or a torn tail.

    ``seq_before`` is the seq of the last record read before the region (0: none), ``seq_after``
    that of the first record of the frame the reader resynchronised on; None when nothing valid
    follows (a torn tail: a writer killed mid-write, or a disk that filled up). The records with
    seqs in between are the ones lost.
    """

    offset: int
    length: int
    seq_before: int
    seq_after: int | None

    @property
    def torn_tail(self) -> bool:
        return self.seq_after is None

    def describe(self) -> str:
        where = f"{self.length:,} bytes at offset {self.offset:,}"
        if self.seq_after is None:
            return f"{where}: a torn tail after seq {self.seq_before}"
        lost = self.seq_after - self.seq_before - 1
        return (
            f"{where}: damaged; the {lost:,} record{'s' if lost != 1 else ''} between seq "
            f"{self.seq_before} and seq {self.seq_after} are lost"
        )


def iter_frames(
    buf: bytes | memoryview,
    start: int = 0,
    *,
    after_seq: int = 0,
    final: bool = False,
    skipped: list[Skipped] | None = None,
) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(end_offset, seq, payload)`` for each intact frame from ``start``.

    An incomplete frame at the end is not damage while the journal is still being written: the
    reader stops there and reads it later. A complete frame that fails its CRC, has a length no
    writer makes, or a seq not above the previous frame's (a stale block) is damage: the reader
    looks for the next frame whose length, CRC and seq check out (seq above the last one read,
    or ``after_seq`` when none was) and goes on from there, noting the bytes in between in
    ``skipped``. With ``final`` (the journal's writer is gone),
    bytes at the end that hold no valid frame are a torn tail: noted, never cut.

    The resynchronising scan runs only after a failed check, so intact journals are read at full
    speed. A skip is noted only once the reader has moved past it (a frame after it validated, or
    ``final``), so a reader that stops early and retries never notes it twice.
    """
    view = memoryview(buf)
    pos = start
    hsize = FRAME_HEADER.size
    n = len(view)
    last_payload: bytes | None = None
    prev = -1  # seq of the last frame read: a frame's seqs are all above its predecessor's
    while pos + hsize <= n:
        length, crc, seq = FRAME_HEADER.unpack_from(view, pos)
        end = pos + hsize + length
        if end <= n and length <= MAX_PAYLOAD:
            payload = bytes(view[pos + hsize : end])
            if zlib.crc32(payload, zlib.crc32(view[pos + 8 : pos + 16])) == crc and seq > prev:
                yield end, seq, payload
                last_payload = payload
                prev = seq
                pos = end
                continue
        elif length <= MAX_PAYLOAD and not final:
            return  # the writer has not finished this frame yet
        before = _last_seq(last_payload, after_seq)
        nxt = _resync(view, pos + 1, before)
        if nxt is None:
            if final and skipped is not None:
                skipped.append(Skipped(pos, n - pos, before, None))
            return
        if skipped is not None:
            skipped.append(Skipped(pos, nxt - pos, before, _seq_at(view, nxt)))
        pos = nxt
    if final and pos < n and skipped is not None:
        skipped.append(Skipped(pos, n - pos, _last_seq(last_payload, after_seq), None))


def _last_seq(payload: bytes | None, default: int) -> int:
    if payload is None:
        return default
    try:
        return int(decode_batch(payload)[-1]["seq"])
    except (ValueError, msgspec.DecodeError):
        return default


def _seq_at(view: memoryview, pos: int) -> int:
    return int(FRAME_HEADER.unpack_from(view, pos)[2])


_NONZERO = re.compile(rb"[^\x00]")
MAX_SEQ = 2**40
"""Seqs stay below this (a trillion records in one run): a frame header's top three bytes are
zero, which lets the resynchronising scan jump to candidates in C instead of trying each byte."""
_SEQ_TOP = re.compile(rb"\x00\x00\x00")
_SEQ_TOP_AT = FRAME_HEADER.size - 3


def _resync(view: memoryview, pos: int, after_seq: int) -> int | None:
    """Offset of the first frame at or after ``pos`` that validates, with a seq above
    ``after_seq``; None when there is none.

    A candidate must pass, cheapest first: a seq whose top bytes are zero (found by a regex
    search, so damaged bytes are skipped at C speed), a sane length that fits, a seq above the
    last one read, the CRC, and a payload that decodes to records numbered from the header's
    seq. A chance match of all of them in damaged bytes is not a practical concern (the CRC
    alone is one in four billion). Runs of zeros (what a filesystem may leave after a power cut)
    are jumped over: a frame header's length field is never zero.
    """
    hsize = FRAME_HEADER.size
    n = len(view)
    unpack = FRAME_HEADER.unpack_from
    crc32 = zlib.crc32
    while True:
        m = _SEQ_TOP.search(view, pos + _SEQ_TOP_AT)
        if m is None or m.start() - _SEQ_TOP_AT + hsize > n:
            return None
        pos = m.start() - _SEQ_TOP_AT
        length, crc, seq = unpack(view, pos)
        if length == 0 and seq == 0:
            z = _NONZERO.search(view, pos)
            if z is None:
                return None
            pos = max(pos + 1, z.start() - 3)
            continue
        end = pos + hsize + length
        if (
            0 < length <= MAX_PAYLOAD
            and end <= n
            and after_seq < seq < MAX_SEQ
            and crc32(view[pos + hsize : end], crc32(view[pos + 8 : pos + 16])) == crc
        ):
            try:
                if decode_batch(bytes(view[pos + hsize : end]))[0]["seq"] == seq:
                    return pos
            except (ValueError, IndexError, msgspec.DecodeError):
                pass
        pos += 1


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a batch of records is decoded or transposed.

    A batch is many small dicts and tuples that cannot form cycles; with them alive, the
    collections their allocations trigger re-scan everything and can cost several times the work
    itself. The GC is process-wide, so this only ever delays a collection, never skips one.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
