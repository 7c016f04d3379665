"""The runtime's record reader (`plan_runtime.records`): the compiled parser for every batch it can read, the
lenient pure-Python one for a batch with a header key that is not UTF-8; either way the same records.

The end-to-end fuzz tier (tests/e2e/test_fuzz.py) sends such records to the real services; here every
generated batch is read both ways and compared."""

from typing import Any

from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from aiokafka.record.memory_records import _MemoryRecordsPy
from hypothesis import given, settings
from hypothesis import strategies as st

from plan_runtime import records
from tests.support.kafka import RawHeaderKey

records.install()


header_keys = st.one_of(st.text(max_size=8), st.binary(max_size=8).map(RawHeaderKey))
record = st.tuples(
    st.one_of(st.none(), st.binary(max_size=40)),
    st.one_of(st.none(), st.binary(max_size=200)),
    st.lists(st.tuples(header_keys, st.one_of(st.none(), st.binary(max_size=8))), max_size=3),
)


def build(rows: list[tuple[Any, Any, Any]], codec: int, base_offset: int = 0) -> bytes:
    builder = _DefaultRecordBatchBuilderPy(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=10**7,
    )
    for offset, (key, value, headers) in enumerate(rows):
        builder.append(offset, timestamp=1_600_000_000_000 + offset, key=key, value=value, headers=headers)
    built = bytearray(builder.build())
    built[0:8] = base_offset.to_bytes(8, "big")  # the base offset is not covered by the CRC
    return bytes(built)


def seen(record: Any) -> tuple[Any, ...]:
    return (record.offset, record.timestamp, record.key, record.value, record.headers)


def read_all(data: bytes) -> list[tuple[Any, ...]]:
    memory = _MemoryRecordsPy(data)
    out = []
    while memory.has_next():
        batch = memory.next_batch()
        assert batch.validate_crc()
        out.extend(seen(r) for r in batch)
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(record, min_size=1, max_size=6), min_size=1, max_size=4), st.sampled_from([0, 1]))
def test_every_batch_reads_as_the_lenient_reader_reads_it(batches: list[Any], codec: int) -> None:
    """codec 0 = none, 1 = gzip; batches one after the other as in a fetch response."""
    data = b"".join(build(rows, codec, base_offset=10 * n) for n, rows in enumerate(batches))
    expected = []
    for n, rows in enumerate(batches):
        lenient = records.LenientRecordBatch(memoryview(build(rows, codec, 10 * n)))
        assert lenient.validate_crc()
        expected.extend(seen(r) for r in lenient)
    assert read_all(data) == expected


def test_a_clean_batch_is_read_by_the_compiled_parser_and_a_bad_header_key_by_the_lenient_one() -> None:
    clean = records.ReadBatch(memoryview(build([(b"k", b"v", [("trace", b"1")])], 0)))
    assert records._Compiled is not None and isinstance(clean._batch, records._Compiled)
    bad = build([(b"k", b"v", []), (b"k2", b"v2", [(RawHeaderKey(b"\xff\xfe"), b"1")])], 0)
    read = records.ReadBatch(memoryview(bad))
    assert read.validate_crc()
    assert [seen(r)[2:] for r in read] == [(b"k", b"v", []), (b"k2", b"v2", [("\udcff\udcfe", b"1")])]
    assert isinstance(read._batch, records.LenientRecordBatch)


def test_a_corrupted_batch_fails_its_crc_check() -> None:
    data = bytearray(build([(b"key", b"value", [])], 0))
    data[-1] ^= 0xFF  # inside the record, covered by the CRC
    batch = records.ReadBatch(memoryview(bytes(data)))
    assert not batch.validate_crc()
