"""A small keep-alive HTTP/1.1 client for the hot path: asyncio.Protocol + httptools.

Why it exists: stack-notes ("The hot path") measured a raw asyncio.Protocol + httptools
client at about 0.05 ms CPU per proxied request against 0.16-0.26 ms for aiohttp. The
gateway only ever POSTs a JSON body to a handful of provider hosts and reads the answer
whole or as a stream, so a client that does exactly that, and nothing else, can skip
most of a general-purpose client's machinery:

- no task per request: protocol callbacks wake one plain future that the caller awaits;
- one ``transport.write`` per request (request line, headers and body joined);
- the read timeout is one ``loop.call_at`` timer per request, re-armed lazily: arriving
  data only stamps the time, the timer checks the stamp when it fires;
- idle connections are kept LIFO per (scheme, host, port): the most recently used one is
  the least likely to have been closed by the server, the oldest ones age out.

What it does not do, on purpose: proxies (the gateway keeps using aiohttp's
``ClientSession`` when a provider or the gateway has ``proxy_url`` set), redirects,
cookies, decompression (``accept-encoding: identity`` is sent unless the caller sets
another value, in which case the body comes back encoded), request-body streaming,
HTTP/2, a cap on open connections per host, and DNS caching (a name is resolved only
when a new connection opens, which keep-alive makes rare).

Retry caveat: a POST is not idempotent in general. The client retries once, on a brand-new
connection, only when a *reused* keep-alive connection ends before a single byte of the
response arrived (the server closed it while idle just as the request went out: EOF,
reset or broken pipe). The server may in theory have received the request in that window;
every client with connection reuse (aiohttp, httpx, browsers) makes the same trade-off.
Nothing is retried once any response byte has arrived, nor after a timeout.

Callers must finish every response: ``read()`` it, iterate ``chunks()`` to the end, or call
``release()``; otherwise its connection stays checked out until the server closes it.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit

import httptools

__all__ = ["HIGH_WATER", "FastClient", "FastClientError", "FastResponse"]

# Stop reading from the socket when this much body is buffered and unread; the kernel's
# socket buffers and TCP flow control then hold the server back.
HIGH_WATER = 1 << 20
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Headers the client writes itself; the caller's versions are dropped.
_OWN_HEADERS = frozenset({"content-length", "connection", "transfer-encoding", "keep-alive"})
_SAFE_TARGET = re.compile(r"[!#-~]+")  # visible ASCII, no space or '"': safe in a request line
_TARGET_CACHE_LIMIT = 1024
_NO_BODY_STATUS = frozenset({204, 304})


class FastClientError(Exception):
    """No usable HTTP answer: connect failure, reset, timeout or malformed response."""


class _StaleConnection(FastClientError):
    """The connection ended before one response byte arrived (retried once if it was reused)."""


class _Target:
    """What a URL means on the wire, parsed once per distinct URL (the gateway uses few)."""

    __slots__ = ("host", "host_line", "key", "label", "port", "request_line", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise ValueError(f"FastClient supports http:// and https:// URLs only, not {url!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("FastClient does not send credentials from the URL; use headers")
        host = parts.hostname
        if not host:
            raise ValueError(f"no host in URL {url!r}")
        port = parts.port or _DEFAULT_PORTS[scheme]
        shown = f"[{host}]" if ":" in host else host
        if not shown.isascii():
            shown = shown.encode("idna").decode("ascii")
        authority = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        if not _SAFE_TARGET.fullmatch(path):
            path = quote(path, safe="/%?=&:@!$'()*+,;~-._")
        self.host = host
        self.port = port
        self.tls = scheme == "https"
        self.key = (scheme, host, port)
        self.label = f"{shown}:{port}"
        self.request_line = f"POST {path} HTTP/1.1\r\n".encode("ascii")
        self.host_line = f"host: {authority}\r\n".encode("ascii")


def _encode_request(target: _Target, body: bytes, headers: dict[str, str]) -> bytes:
    """The whole request as one bytes object, for one transport.write."""
    lines = []
    has_host = has_encoding = False
    for name, value in headers.items():
        low = name.lower()
        if low in _OWN_HEADERS:
            continue
        if low == "host":
            has_host = True
        elif low == "accept-encoding":
            has_encoding = True
        lines.append(f"{name}: {value}\r\n")
    text = "".join(lines)
    # A CR or LF inside a name or value would smuggle headers: each line has exactly one.
    if text.count("\n") != len(lines) or text.count("\r") != len(lines):
        raise ValueError("CR or LF in a request header name or value")
    return b"".join((
        target.request_line,
        b"" if has_host else target.host_line,
        text.encode("utf-8"),
        b"" if has_encoding else b"accept-encoding: identity\r\n",
        b"connection: keep-alive\r\ncontent-length: %d\r\n\r\n" % len(body),
        body,
    ))


class _Connection(asyncio.Protocol):
    """One socket and its response parser; at most one request in flight.

    The protocol callbacks (data_received, the httptools callbacks, connection_lost, the
    timer) only change state and wake ``_waiter``; the task awaiting a response reads the
    state after waking. So there is never more than one future per wait and no task.
    """

    __slots__ = (
        "_body", "_buffered", "_busy", "_client", "_closed", "_complete", "_error",
        "_got_bytes", "_headers", "_headers_done", "_idle_since", "_informational",
        "_keep_alive", "_last", "_loop", "_parser", "_paused", "_read_timeout", "_timer",
        "_until_eof", "_waiter", "key", "label", "reused", "status", "transport",
    )

    def __init__(self, client: FastClient, target: _Target) -> None:
        self._client = client
        self._loop = client._loop
        self.key = target.key
        self.label = target.label
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._busy = False
        self._paused = False
        self._idle_since = 0.0
        self._last = 0.0
        self._read_timeout = 0.0
        self.reused = False
        self._reset()

    def _reset(self) -> None:
        """Forget the previous response (called before each request)."""
        self.status = 0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._buffered = 0
        self._headers_done = False
        self._complete = False
        self._informational = False
        self._keep_alive = False
        self._until_eof = False
        self._got_bytes = False
        self._error: FastClientError | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self._busy or self._complete:
            # Bytes nobody asked for (idle, or after a complete answer): the stream is out of
            # sync, so the connection can never be reused.
            self._keep_alive = False
            self._abort()
            return
        self._got_bytes = True
        self._last = self._loop.time()
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(FastClientError(f"malformed response from {self.label}: {exc}"))
            return
        # Counted here rather than per on_body call (a stream brings dozens per read); the
        # count includes chunk framing, which is close enough for a memory bound.
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._paused and self._body:
            self._paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        if self._waiter is not None:  # one wake per read, whatever the parser saw in it
            self._wake()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost does the bookkeeping

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._cancel_timer()
        self._client._forget(self)
        if not self._busy or self._complete or self._error is not None:
            return
        if self._headers_done and self._until_eof and exc is None:
            self._complete = True  # HTTP/1.0 style: the body ends where the connection does
            self._wake()
            return
        how = f"reset ({exc})" if exc is not None else "closed"
        if not self._got_bytes:
            self._fail(_StaleConnection(f"connection to {self.label} {how} before any response byte"))
        elif not self._headers_done:
            self._fail(FastClientError(f"connection to {self.label} {how} in the response headers"))
        else:
            self._fail(FastClientError(f"connection to {self.label} {how} in the response body"))

    # -- httptools callbacks (only those we need: each one costs a call per message) ------

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self._headers.get(key)
        self._headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # 100 Continue / 103 Early Hints: the real answer follows
            self._informational = True
            self._headers = {}
            return
        self.status = status
        headers = self._headers
        # No length and not chunked: the body runs until the server closes (HTTP/1.0 style).
        self._until_eof = (
            status not in _NO_BODY_STATUS
            and "content-length" not in headers
            and not headers.get("transfer-encoding", "").lower().endswith("chunked")
        )
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._keep_alive = self._parser.should_keep_alive()
        self._complete = True
        self._cancel_timer()

    # -- state changes ---------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _wait(self) -> asyncio.Future[None]:
        waiter = self._waiter = self._loop.create_future()
        return waiter

    def _fail(self, error: FastClientError) -> None:
        if self._error is None:
            self._error = error
        self._cancel_timer()
        self._abort()
        self._wake()

    def _abort(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        """Fail if nothing arrived for read_timeout; otherwise wait for the rest of it.

        Time spent paused (our consumer is slow, not the server) does not count.
        """
        self._timer = None
        if not self._busy or self._complete or self._closed:
            return
        now = self._loop.time()
        if self._paused:
            self._last = now
        deadline = self._last + self._read_timeout
        if deadline - now > 0.001:
            self._timer = self._loop.call_at(deadline, self._on_timer)
            return
        self._fail(FastClientError(
            f"read timeout: {self.label} sent nothing for {self._read_timeout:g}s"
        ))

    # -- used by FastClient and FastResponse ----------------------------------------------

    def start(self, data: bytes, read_timeout: float) -> None:
        """Send one request and start the silence timer."""
        self._reset()
        self._busy = True
        self._read_timeout = read_timeout
        self._last = now = self._loop.time()
        self._timer = self._loop.call_at(now + read_timeout, self._on_timer)
        assert self.transport is not None
        self.transport.write(data)

    def take(self) -> bytes:
        """Everything buffered as one bytes object; resumes reading if it was paused."""
        body = self._body
        self._buffered = 0
        if not body:
            data = b""
        else:
            data = body[0] if len(body) == 1 else b"".join(body)
            self._body = []
        if self._paused:
            self._paused = False
            self._last = self._loop.time()
            if not self._closed and self.transport is not None:
                self.transport.resume_reading()
        return data

    def done(self, reuse: bool) -> None:
        """The caller is finished with the response: back to the pool, or closed."""
        self._busy = False
        self._cancel_timer()
        self._waiter = None
        if (
            reuse and self._complete and self._keep_alive and self._error is None
            and not self._closed and self.transport is not None and not self.transport.is_closing()
        ):
            self._body = []  # a released complete answer may still hold its body
            self._client._park(self)
        else:
            self._closed_by_us()

    def _closed_by_us(self) -> None:
        """Close gracefully after a complete answer; abort (no lingering writes) otherwise."""
        if self.transport is None or self._closed:
            return
        if self._complete:
            self.transport.close()
        else:
            self.transport.abort()

    def usable(self, now: float, idle_timeout: float) -> bool:
        return (
            not self._closed and self.transport is not None and not self.transport.is_closing()
            and now - self._idle_since < idle_timeout
        )


class FastResponse:
    """Status and headers now; the body read whole (``read``) or as it arrives (``chunks``)."""

    __slots__ = ("_body", "_conn", "headers", "status")

    def __init__(self, conn: _Connection) -> None:
        self._conn: _Connection | None = conn
        self._body = b""
        self.status = conn.status
        self.headers = conn._headers  # lower-case names; repeats joined with ", "

    async def read(self) -> bytes:
        """The whole body; then the connection goes back to the pool (or is closed)."""
        conn = self._conn
        if conn is None:
            return self._body
        try:
            parts: list[bytes] | None = None
            while not conn._complete:
                if conn._error is not None:
                    raise conn._error
                if conn._paused:  # read() wants everything: keep the socket flowing
                    parts = parts or []
                    parts.append(conn.take())
                await conn._wait()
            data = conn.take()
            if parts:
                parts.append(data)
                data = b"".join(parts)
        except BaseException:
            self._finish(reuse=False)
            raise
        self._body = data
        self._finish(reuse=True)
        return data

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body data as it arrives, everything buffered so far in one item (chunked-decoded).

        Raises FastClientError when the connection fails or goes silent mid-body, after
        yielding what arrived before. Stopping early (break, aclose) closes the connection.
        """
        conn = self._conn
        if conn is None:
            if self._body:
                yield self._body
            return
        complete = False
        try:
            while True:
                if conn._body:
                    yield conn.take()
                    continue
                if conn._complete:
                    complete = True
                    return
                if conn._error is not None:
                    raise conn._error
                await conn._wait()
        finally:
            self._finish(reuse=complete)

    def release(self) -> None:
        """Give up on the body. A half-read connection is closed, never pooled.

        A response that already arrived complete keeps its connection reusable.
        """
        self._finish(reuse=True)

    def _finish(self, *, reuse: bool) -> None:
        conn = self._conn
        if conn is not None:
            self._conn = None
            conn.done(reuse and conn._complete)


class FastClient:
    """Pooled keep-alive HTTP/1.1 connections per (scheme, host, port), on asyncio.Protocol + httptools.

    One instance per event loop (it binds to the running loop on first use). No proxy
    support: the gateway falls back to aiohttp when a proxy is configured.
    """

    def __init__(
        self,
        *,
        max_idle_per_host: int = 256,
        connect_timeout: float = 10.0,
        idle_timeout: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_idle_per_host = max_idle_per_host
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self._ssl_context = ssl_context
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._targets: dict[str, _Target] = {}
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._closed = False

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, read_timeout: float
    ) -> FastResponse:
        """POST and return once the status line and headers arrived; the body is read later.

        ``read_timeout`` is the longest silence allowed between received bytes, from the
        moment the request is written until the body is complete.
        """
        if self._closed:
            raise FastClientError("FastClient is closed")
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        target = self._targets.get(url)
        if target is None:
            target = self._target(url)
        data = _encode_request(target, body, headers)
        conn = self._idle_connection(target.key)
        if conn is None:
            conn = await self._connect(target)
        try:
            return await self._exchange(conn, data, read_timeout)
        except _StaleConnection:
            if not conn.reused:
                raise
        return await self._exchange(await self._connect(target), data, read_timeout)

    async def close(self) -> None:
        """Close every connection, idle or busy; responses in flight fail with FastClientError."""
        self._closed = True
        conns = list(self._open)
        self._idle.clear()
        for conn in conns:
            conn._fail(FastClientError("FastClient closed"))
        if conns:
            await asyncio.sleep(0)  # let the transports run connection_lost

    # -- internals ---------------------------------------------------------------------

    def _target(self, url: str) -> _Target:
        if len(self._targets) >= _TARGET_CACHE_LIMIT:
            self._targets.clear()
        target = self._targets[url] = _Target(url)
        return target

    async def _exchange(self, conn: _Connection, data: bytes, read_timeout: float) -> FastResponse:
        conn.start(data, read_timeout)
        try:
            while not conn._headers_done:
                if conn._error is not None:
                    raise conn._error
                await conn._wait()
        except BaseException:  # includes cancellation: a connection mid-request is unusable
            conn.done(reuse=False)
            raise
        return FastResponse(conn)

    def _idle_connection(self, key: tuple[str, str, int]) -> _Connection | None:
        """The most recently parked live connection; dead or too old ones are dropped."""
        idle = self._idle.get(key)
        if not idle:
            return None
        now = self._loop.time()
        while idle:
            conn = idle.pop()
            if conn.usable(now, self.idle_timeout):
                conn.reused = True
                return conn
            conn._closed_by_us()
        return None

    async def _connect(self, target: _Target) -> _Connection:
        ssl_context: ssl.SSLContext | None = None
        if target.tls:
            if self._ssl_context is None:  # loading the CA store is slow: once per client
                self._ssl_context = ssl.create_default_context()
            ssl_context = self._ssl_context
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await self._loop.create_connection(
                    lambda: _Connection(self, target), target.host, target.port,
                    ssl=ssl_context, server_hostname=target.host if ssl_context else None,
                )
        except TimeoutError:
            raise FastClientError(
                f"connect timeout: {target.label} did not accept within {self.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            raise FastClientError(f"cannot connect to {target.label}: {exc}") from exc
        if self._closed:
            conn._abort()
            raise FastClientError("FastClient closed")
        self._open.add(conn)
        return conn

    def _park(self, conn: _Connection) -> None:
        """Keep an idle connection for reuse (LIFO), unless the host already has enough."""
        idle = self._idle.get(conn.key)
        if idle is None:
            idle = self._idle[conn.key] = []
        if len(idle) >= self.max_idle_per_host or self._closed:
            conn._closed_by_us()
            return
        now = conn._idle_since = self._loop.time()
        idle.append(conn)
        # The bottom of a LIFO stack is the oldest: age it out here, one check per park.
        while idle[0]._idle_since + self.idle_timeout < now:
            idle.pop(0)._closed_by_us()

    def _forget(self, conn: _Connection) -> None:
        """Connection lost: never hand it out again."""
        self._open.discard(conn)
        if not conn._busy:
            idle = self._idle.get(conn.key)
            if idle and conn in idle:
                idle.remove(conn)
