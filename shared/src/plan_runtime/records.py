"""Reading any record a producer may legally write, including header keys that are not UTF-8.

Kafka lets a producer put any bytes in a header key; aiokafka's record parsers (the compiled and the
pure-Python one) decode header keys strictly, so one such record makes every poll of its partition
raise `UnicodeDecodeError` for ever: the consumer is stuck behind it. We never read headers, so here
the pure-Python parser's record reader is replaced by the same code with a lenient decode, and the
fetcher is pointed at the pure-Python record classes. `install()` is called once by the runtime.

`_read_msg` below is aiokafka 0.14's `_DefaultRecordBatchPy._read_msg` (Apache License 2.0), with
`decode("utf-8")` of the header key made `decode("utf-8", "surrogateescape")`.
"""

from aiokafka.consumer import fetcher
from aiokafka.errors import CorruptRecordException
from aiokafka.record import default_records, memory_records
from aiokafka.record.util import decode_varint


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


def install() -> None:
    """Make every aiokafka consumer of this process read records with the lenient reader."""
    memory_records.DefaultRecordBatch = LenientRecordBatch
    fetcher.MemoryRecords = memory_records._MemoryRecordsPy
