"""Reading any record a producer may legally write, including header keys that are not UTF-8.

Kafka lets a producer put any bytes in a header key; aiokafka's record parsers (the compiled and the
pure-Python one) decode header keys strictly, so one such record makes every poll of its partition
raise `UnicodeDecodeError` for ever: the consumer is stuck behind it. We never read headers, so here
a batch is read by the compiled parser (about 20 times faster: 0.12 against 2.6 µs per record), all at
once, and only a batch it refuses with `UnicodeDecodeError` is read again by the pure-Python parser's
record reader with a lenient decode. `install()` is called once by the runtime.

`_read_msg` below is aiokafka 0.14's `_DefaultRecordBatchPy._read_msg` (Apache License 2.0), with
`decode("utf-8")` of the header key made `decode("utf-8", "surrogateescape")`.
"""

from collections.abc import Iterator
from typing import Any

from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record import default_records, memory_records
from aiokafka.record.util import decode_varint

try:  # the compiled parser, when aiokafka was built with it (its wheels are)
    from aiokafka.record._crecords.default_records import DefaultRecordBatch as _Compiled
except ImportError:  # pragma: no cover
    _Compiled = None


class LenientRecordBatch(default_records._DefaultRecordBatchPy):  # type: ignore[misc]
    def _read_msg(self, decode_varint=decode_varint):  # type: ignore[no-untyped-def]
        buffer = self._buffer
        pos: int = self._pos  # type: ignore[has-type]
        length, pos = decode_varint(buffer, pos)
        start_pos = pos
        _, pos = decode_varint(buffer, pos)  # attributes
        ts_delta, pos = decode_varint(buffer, pos)
        if self.timestamp_type == self.LOG_APPEND_TIME:
            timestamp = self.max_timestamp
        else:
            timestamp = self.first_timestamp + ts_delta
        offset_delta, pos = decode_varint(buffer, pos)
        offset = self.base_offset + offset_delta
        key_len, pos = decode_varint(buffer, pos)
        if key_len >= 0:
            key = bytes(buffer[pos : pos + key_len])
            pos += key_len
        else:
            key = None
        value_len, pos = decode_varint(buffer, pos)
        if value_len >= 0:
            value = bytes(buffer[pos : pos + value_len])
            pos += value_len
        else:
            value = None
        header_count, pos = decode_varint(buffer, pos)
        if header_count < 0:
            raise CorruptRecordException(f"Found invalid number of record headers {header_count}")
        headers: list[tuple[str, bytes | None]] = []
        while header_count:
            h_key_len, pos = decode_varint(buffer, pos)
            if h_key_len < 0:
                raise CorruptRecordException(f"Invalid negative header key size {h_key_len}")
            h_key = bytes(buffer[pos : pos + h_key_len]).decode("utf-8", "surrogateescape")
            pos += h_key_len
            h_value_len, pos = decode_varint(buffer, pos)
            if h_value_len >= 0:
                h_value: bytes | None = bytes(buffer[pos : pos + h_value_len])
                pos += h_value_len
            else:
                h_value = None
            headers.append((h_key, h_value))
            header_count -= 1
        if pos - start_pos != length:
            raise CorruptRecordException(
                f"Invalid record size: expected to read {length} bytes in record payload, but read {pos - start_pos}"
            )
        self._pos = pos
        return default_records._DefaultRecordPy(offset, timestamp, self.timestamp_type, key, value, headers)


class ReadBatch:
    """A v2 batch read by the compiled parser, or by `LenientRecordBatch` if the compiled one refuses a header
    key. Its records are read all at once when the fetcher first iterates (after it checked the CRC, as before);
    the batch's attributes (base_offset, next_offset, is_control_batch, validate_crc, …) are the parser's."""

    def __init__(self, buffer: memoryview) -> None:
        self._buffer = buffer
        self._batch: Any = _Compiled(bytes(buffer)) if _Compiled is not None else LenientRecordBatch(buffer)
        self._next: Iterator[Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def _records(self) -> Iterator[Any]:
        if self._next is None:
            try:
                read = list(self._batch)
            except UnicodeDecodeError:  # a header key that is not UTF-8 (anywhere in the batch): read it again
                self._batch = LenientRecordBatch(self._buffer)
                self._batch.validate_crc()  # the pure-Python reader wants it called first; it passed already
                read = list(self._batch)
            self._next = iter(read)
        return self._next

    def __iter__(self) -> Iterator[Any]:
        return self._records()

    def __next__(self) -> Any:
        return next(self._records())


def install() -> None:
    """Make every aiokafka consumer of this process read records with `ReadBatch`."""
    memory_records.DefaultRecordBatch = ReadBatch
    fetcher.MemoryRecords = memory_records._MemoryRecordsPy
