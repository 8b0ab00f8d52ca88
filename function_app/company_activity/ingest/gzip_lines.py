"""Bounded reading of gzip JSON Lines: every gzip reader of the bundle goes through `GzipLines`.

A gzip file is a claim about its size that only decompressing checks: a few hundred kilobytes can expand to
gigabytes, or to one endless line that a line reader would hold in memory whole. `GzipLines` decompresses
at most `CHUNK_BYTES` of output per step (zlib's `max_length`, the rest of the input waiting in
`unconsumed_tail`), refuses a line longer than `max_line_bytes` as soon as it grows past it and the stream
once it has produced more than `max_output_bytes`. Memory stays at about one line plus one chunk whatever
the input. Written by hand because neither `gzip` nor `zlib` offers a line reader with output limits.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from company_activity.errors import InputError

GZIP_WBITS = 31  # zlib: gzip container (header + CRC32 trailer) instead of a raw zlib stream
CHUNK_BYTES = 1024 * 1024  # decompressed bytes produced per step
MAX_LINE_BYTES = 1024 * 1024  # a usage record is ~100 bytes; a rejected one holds the record as received
MAX_OUTPUT_BYTES = 4 * 1024**3  # a bronze part rolls over at 256 MiB of JSON Lines


class DecompressionLimitExceeded(InputError):
    """The decompressed data is larger than its limit (one line, or the whole stream); reading stopped there."""


class CorruptGzip(InputError):
    """The data is not valid gzip, or the stream ends before its trailer."""


def output_limit(records: int | None, max_line_bytes: int = MAX_LINE_BYTES, ceiling: int = MAX_OUTPUT_BYTES) -> int:
    """The most a file of `records` lines can decompress to when every line is within max_line_bytes."""
    if records is None:
        return ceiling
    return min(ceiling, (records + 1) * (max_line_bytes + 1))


class GzipLines:
    """Feed compressed chunks, get whole lines (without b"\\n"); `finish()` returns the last unterminated line."""

    def __init__(self, where: str, *, max_line_bytes: int = MAX_LINE_BYTES,
                 max_output_bytes: int = MAX_OUTPUT_BYTES) -> None:
        self.where = where
        self.max_line_bytes = max_line_bytes
        self.max_output_bytes = max_output_bytes
        self.produced = 0
        self._inflater = zlib.decompressobj(GZIP_WBITS)
        self._pending = bytearray()
        self._fed = False

    @property
    def complete(self) -> bool:
        """Every member that started has ended (its CRC and length were checked by zlib)."""
        return self._inflater.eof or not self._fed

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        data = chunk
        try:
            while data:
                self._fed = True
                if self._inflater.eof:  # a member ended: what follows is the next member
                    self._inflater = zlib.decompressobj(GZIP_WBITS)
                yield from self._split(self._inflater.decompress(data, CHUNK_BYTES))
                while self._inflater.unconsumed_tail:
                    yield from self._split(self._inflater.decompress(self._inflater.unconsumed_tail, CHUNK_BYTES))
                data = self._inflater.unused_data if self._inflater.eof else b""
        except zlib.error as exc:
            raise CorruptGzip(f"{self.where}: not valid gzip data ({exc})") from None

    def finish(self) -> bytes | None:
        line = bytes(self._pending) if self._pending else None
        self._pending.clear()
        return line

    def _split(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        self.produced += len(data)
        if self.produced > self.max_output_bytes:
            raise DecompressionLimitExceeded(
                f"{self.where}: decompresses to more than {self.max_output_bytes} bytes; refused (a gzip bomb, or "
                "a file larger than its manifest allows)")
        start = 0
        while (newline := data.find(b"\n", start)) >= 0:
            self._check_line(len(self._pending) + newline - start)
            self._pending.extend(data[start:newline])
            line = bytes(self._pending)
            self._pending.clear()
            start = newline + 1
            yield line
        self._check_line(len(self._pending) + len(data) - start)
        self._pending.extend(data[start:])

    def _check_line(self, length: int) -> None:
        if length > self.max_line_bytes:
            raise DecompressionLimitExceeded(
                f"{self.where}: a line is longer than {self.max_line_bytes} bytes; refused (no usage record is "
                "that long: a gzip bomb or a damaged file)")


def inflate_lines(chunks: Iterable[bytes], *, where: str, max_line_bytes: int = MAX_LINE_BYTES,
                  max_output_bytes: int = MAX_OUTPUT_BYTES) -> Iterator[bytes]:
    """Every line of the gzip stream arriving as `chunks`; CorruptGzip also when it stops before its trailer."""
    reader = GzipLines(where, max_line_bytes=max_line_bytes, max_output_bytes=max_output_bytes)
    for chunk in chunks:
        yield from reader.feed(chunk)
    if not reader.complete:
        raise CorruptGzip(f"{where}: the gzip stream is truncated")
    last = reader.finish()
    if last is not None:
        yield last


def read_chunks(path: str, size: int = 256 * 1024) -> Iterator[bytes]:
    """A local file's bytes, `size` at a time."""
    with open(path, "rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def inflate_bounded(data: bytes, *, wbits: int, where: str, max_output_bytes: int) -> bytes:
    """The whole decompressed `data` (gzip: wbits 31, raw deflate: -15, zlib: 15), refused past max_output_bytes
    with at most one chunk beyond the limit ever in memory; CorruptGzip on bad or truncated data."""
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    try:
        while pending:
            if inflater.eof:
                if wbits != GZIP_WBITS:
                    break  # raw deflate and zlib have one stream; gzip may have several members
                inflater = zlib.decompressobj(wbits)
            out += inflater.decompress(pending, CHUNK_BYTES)
            if len(out) > max_output_bytes:
                raise DecompressionLimitExceeded(
                    f"{where}: decompresses to more than {max_output_bytes} bytes; refused (a gzip bomb?)")
            pending = inflater.unconsumed_tail or (inflater.unused_data if inflater.eof else b"")
    except zlib.error as exc:
        raise CorruptGzip(f"{where}: not valid compressed data ({exc})") from None
    if not inflater.eof:
        raise CorruptGzip(f"{where}: the compressed stream is truncated")
    return bytes(out)
