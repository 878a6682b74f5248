"""Keep-alive HTTP/1.1 connections to S3: asyncio transports and llhttp (`httptools`).

Why not aiohttp's client: per small GET it costs about 100 µs of CPU here (request objects,
tracing hooks, cookie and redirect handling, timers per read), against about 20 µs for this
module, which does only what the proxy's S3 calls need: one request at a time per connection
(no pipelining), no redirects, no cookies, no compression, no proxies. The HTTP parsing is
llhttp's (Node.js's parser, through httptools): framing by Content-Length or chunked
encoding, keep-alive, errors. What is written here is the pool, the timeouts and the flow
control of a streamed body.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from typing import cast

import httptools

# A connection unused this long is closed rather than reused (S3 drops idle ones after ~20 s).
_IDLE_SECONDS = 15.0
_SMALL_READ = 64 * 1024


class S3ConnectionError(ConnectionError):
    """The connection failed or closed before the response was complete."""


class S3ConnectTimeout(TimeoutError):
    """No connection within the connect timeout."""


class S3ReadTimeout(TimeoutError):
    """The server sent nothing within the read timeout."""


class Headers(dict[str, str]):
    """Response headers; names are stored and looked up in lower case."""

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


class _Connection(asyncio.BufferedProtocol):
    """One TCP (or TLS) connection and the response being received on it.

    Reads into one reusable buffer. llhttp parses the status line and headers (and chunked
    bodies); a body of known Content-Length is then taken from the buffer as it comes, without
    passing through the parser: one copy less and far fewer callbacks for large objects.
    """

    def __init__(self, high_water: int, read_size: int) -> None:
        self._parser = httptools.HttpResponseParser(self)
        # Small reads (headers, small bodies) use a small buffer; a large one exists only while
        # a large body streams, so idle pooled connections stay cheap.
        self._small = memoryview(bytearray(_SMALL_READ))
        self._read_size = read_size
        self._large: memoryview | None = None
        self._buffer = self._small
        self._expected: int | None = None  # Content-Length of the body being received
        self._raw_left = 0  # body bytes still to come without the parser
        self._transport: asyncio.Transport | None = None
        self._high_water = high_water
        self._head_only = False
        self._headers_done: asyncio.Future[None] | None = None
        self._changed: asyncio.Event = asyncio.Event()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self.complete = False
        self.closed = False
        self.error: Exception | None = None
        self.status = 0
        self.headers = Headers()
        self.keep_alive = False
        self.idle_since = 0.0
        self._body_seen = 0

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete:
            self._fail(S3ConnectionError(f"connection closed by S3: {exc or 'EOF'}"))

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._raw_left > _SMALL_READ:
            if self._large is None:
                self._large = memoryview(bytearray(self._read_size))
            self._buffer = self._large
        else:
            self._buffer = self._small
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        if self._raw_left:
            take = min(nbytes, self._raw_left)
            self._raw_left -= take
            self.on_body(bytes(self._buffer[:take]))
            if not self._raw_left:
                self._large = None
                self.on_message_complete()
            if take < nbytes:  # bytes after the body: we never pipeline, so S3 is confused
                self._fail(S3ConnectionError("unexpected bytes after the response body"))
                self.close()
            return
        try:
            self._parser.feed_data(bytes(self._buffer[:nbytes]))
        except httptools.HttpParserError as error:
            self._fail(S3ConnectionError(f"malformed response from S3: {error}"))
            self.close()
            return
        if self._expected is not None and not self.complete:
            # The headers are parsed and part of the body may have been: the rest comes raw;
            # a fresh parser waits for the next response on this connection.
            self._raw_left = self._expected - self._body_seen
            self._expected = None
            self._parser = httptools.HttpResponseParser(self)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost reports what was missing

    # --- llhttp callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("utf-8", "surrogateescape")
        previous = self.headers.get(key)
        dict.__setitem__(self.headers, key, text if previous is None else f"{previous}, {text}")

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()
        if self._head_only:
            # A HEAD answer has no body whatever its Content-Length says; llhttp cannot be
            # told the method of a response, so the message ends here and a fresh parser
            # takes the next one (nothing follows on the wire: no pipelining).
            self.complete = True
            self._parser = httptools.HttpResponseParser(self)
        elif (
            self.status not in (204, 304)
            and "transfer-encoding" not in self.headers
            and (self.headers.get("content-length") or "").isdigit()
        ):
            self._expected = int(self.headers["content-length"])
        if self._headers_done is not None and not self._headers_done.done():
            self._headers_done.set_result(None)
        self._changed.set()

    def on_body(self, body: bytes) -> None:
        self._body_seen += len(body)
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered >= self._high_water and not self._paused and self._transport:
            self._transport.pause_reading()
            self._paused = True
        self._changed.set()

    def on_message_complete(self) -> None:
        self.complete = True
        self._changed.set()

    # --- used by the pool ---------------------------------------------------------------

    def _fail(self, error: Exception) -> None:
        if self.error is None:
            self.error = error
        if self._headers_done is not None and not self._headers_done.done():
            self._headers_done.set_exception(error)
            self._headers_done.exception()  # retrieved here: the waiter may be gone already
        self._changed.set()

    def send(self, method: str, target: str, headers: Mapping[str, str]) -> None:
        """Write one request and get ready for its response."""
        assert self._transport is not None
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} holds a line break")
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        self._head_only = method == "HEAD"
        self._headers_done = asyncio.get_running_loop().create_future()
        self._expected, self._raw_left, self._body_seen = None, 0, 0
        self.complete = False
        self.status = 0
        self.headers = Headers()
        self._chunks.clear()
        self._buffered = 0
        self._transport.write("".join(lines).encode("utf-8"))

    async def headers_received(self, read_timeout: float) -> None:
        """Wait for the status line and headers."""
        assert self._headers_done is not None
        try:
            async with asyncio.timeout(read_timeout):
                await self._headers_done
        except TimeoutError:
            self.close()
            raise S3ReadTimeout(f"no response headers from S3 within {read_timeout} s") from None

    async def body_piece(self, limit: int, read_timeout: float) -> bytes:
        """Up to `limit` bytes of the body (b"" at its end); waits at most `read_timeout`."""
        while not self._chunks and not self.complete:
            if self.error is not None:
                raise self.error
            self._changed.clear()
            try:
                async with asyncio.timeout(read_timeout):
                    await self._changed.wait()
            except TimeoutError:
                self.close()
                raise S3ReadTimeout(f"S3 sent nothing for {read_timeout} s") from None
        if not self._chunks:
            return b""
        if len(self._chunks[0]) >= limit:
            first = self._chunks[0]
            piece, rest = first[:limit], first[limit:]
            if rest:
                self._chunks[0] = rest
            else:
                self._chunks.popleft()
        else:
            pieces, size = [], 0
            while self._chunks and size + len(self._chunks[0]) <= limit:
                chunk = self._chunks.popleft()
                pieces.append(chunk)
                size += len(chunk)
            piece = b"".join(pieces)
        self._buffered -= len(piece)
        if self._paused and self._buffered < self._high_water and self._transport:
            self._transport.resume_reading()
            self._paused = False
        return piece

    @property
    def reusable(self) -> bool:
        """True when the last response was read to its end and both sides keep the connection."""
        return self.complete and self.keep_alive and not self.closed and self.error is None

    def close(self) -> None:
        """Drop the connection (its transport closes; nothing more is read)."""
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class Response:
    """One response: status and headers at once, the body on demand; `close()` it always."""

    def __init__(self, pool: ConnectionPool, connection: _Connection, read_timeout: float) -> None:
        self._pool = pool
        self._connection = connection
        self._read_timeout = read_timeout
        self.status = connection.status
        self.headers = connection.headers
        self._released = False

    async def read(self, limit: int | None = None) -> bytes:
        """The body (at most `limit` bytes are kept)."""
        pieces, size = [], 0
        async for piece in self.chunks(1 << 20):
            if limit is None or size < limit:
                pieces.append(piece)
                size += len(piece)
        body = b"".join(pieces)
        return body if limit is None else body[:limit]

    async def chunks(self, size: int) -> AsyncIterator[bytes]:
        """The body in pieces of up to `size` bytes."""
        while True:
            piece = await self._connection.body_piece(size, self._read_timeout)
            if not piece:
                return
            yield piece

    def close(self) -> None:
        """Back to the pool if the body was read to its end, else the connection is dropped."""
        if not self._released:
            self._released = True
            self._pool.release(self._connection)


class ConnectionPool:
    """At most `size` requests at a time to one origin; idle connections are reused (LIFO)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        tls: ssl.SSLContext | None,
        size: int,
        connect_timeout: float,
        read_timeout: float,
        buffer_size: int,
    ) -> None:
        self._host, self._port, self._tls = host, port, tls
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        # Up to four chunks wait in memory per stream before S3 is asked to pause; reading
        # resumes as soon as one was taken, so the stream never drains to empty first.
        self._high_water = 4 * buffer_size
        self._read_size = max(_SMALL_READ, min(buffer_size, 1 << 20))
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _transport, connection = await loop.create_connection(
                    lambda: _Connection(self._high_water, self._read_size),
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=self._host if self._tls else None,
                )
        except TimeoutError:
            raise S3ConnectTimeout(
                f"no connection to {self._host}:{self._port} within {self._connect_timeout} s"
            ) from None
        except OSError as error:
            raise S3ConnectionError(
                f"cannot connect to {self._host}:{self._port}: {error}"
            ) from error
        return connection

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < _IDLE_SECONDS:
                return connection
            connection.close()
        return None

    async def request(self, method: str, target: str, headers: Mapping[str, str]) -> Response:
        """Send one request; returns once the response headers arrived."""
        await self._slots.acquire()
        try:
            connection = self._take_idle()
            if connection is not None:
                try:
                    return await self._exchange(connection, method, target, headers)
                except S3ConnectionError:
                    pass  # S3 closed the idle connection meanwhile: once more on a new one
            return await self._exchange(await self._open(), method, target, headers)
        except BaseException:
            self._slots.release()
            raise

    async def _exchange(
        self, connection: _Connection, method: str, target: str, headers: Mapping[str, str]
    ) -> Response:
        try:
            connection.send(method, target, headers)
            await connection.headers_received(self._read_timeout)
        except BaseException:
            connection.close()
            raise
        return Response(self, connection, self._read_timeout)

    def release(self, connection: _Connection) -> None:
        """A response is done with its connection (called once per response)."""
        if connection.reusable:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        self._slots.release()

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()
