"""FastClient against real sockets on 127.0.0.1, under both the stock asyncio loop and uvloop.

Tiny ``asyncio.start_server`` servers write exact bytes (odd splits, stalls, resets, closes);
an aiohttp.web server checks ordinary behaviour and TLS. Every scenario runs twice, once per
loop, through ``on_both_loops`` (the loop is created here, so no pytest-asyncio hook is needed).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import inspect
import ipaddress
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Self

import pytest
import uvloop
from aiohttp import web

from plugins.routing.fastclient import HIGH_WATER, FastClient, FastClientError

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def on_both_loops(test: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async scenario once per event loop implementation, with a 5 s safety net."""

    def wrapper(loop_name: str, **fixtures: Any) -> None:
        with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
            runner.run(asyncio.wait_for(test(**fixtures), 5))

    # pytest reads the signature: loop_name plus the scenario's own fixtures and parameters
    params = [inspect.Parameter("loop_name", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += list(inspect.signature(test).parameters.values())
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__name__ = test.__name__
    wrapper.__doc__ = test.__doc__
    return pytest.mark.parametrize("loop_name", list(LOOPS))(wrapper)


# -- raw servers ---------------------------------------------------------------------------


class RawServer:
    """asyncio.start_server on a free port; counts accepted connections and requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1/chat/completions"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or the test is over: both are normal endings here
        finally:
            self._tasks.discard(task)
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
        """(head, body) of the next request, or None when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests += 1
        return head, body


def response(body: bytes, *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + b"".join(extra) + (
        b"content-length: %d\r\n\r\n" % len(body)) + body


OK = response(b'{"ok":true}')


def keep_alive_server(answer: bytes = OK) -> RawServer:
    """Answers every request on a connection with the same bytes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader) is not None:
            writer.write(answer)
            await writer.drain()

    server = RawServer(handler)
    return server


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0), like a server or balancer dropping a connection."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def post(client: FastClient, url: str, body: bytes = b'{"model":"m"}', **kw: Any) -> Any:
    kw.setdefault("read_timeout", 2.0)
    return await client.post(url, body, {"content-type": "application/json"}, **kw)


@asynccontextmanager
async def fast_client(**kw: Any) -> AsyncIterator[FastClient]:
    client = FastClient(**kw)
    try:
        yield client
    finally:
        await client.close()


# -- aiohttp server ------------------------------------------------------------------------


@asynccontextmanager
async def aiohttp_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port
    finally:
        await runner.cleanup()


# -- normal behaviour ----------------------------------------------------------------------


@on_both_loops
async def test_content_length_body_and_request_shape() -> None:
    seen: list[web.Request] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(request)
        body = await request.read()
        return web.Response(body=b"echo:" + body, headers={"X-Upstream": "yes"},
                            content_type="application/json")

    async with aiohttp_server(echo) as port, fast_client() as client:
        url = f"http://127.0.0.1:{port}/v1/messages?beta=true"
        reply = await client.post(url, b'{"a":1}', {"Content-Type": "application/json",
                                                     "x-api-key": "k"}, read_timeout=2)
        assert reply.status == 200
        assert reply.headers["x-upstream"] == "yes"
        assert reply.headers["content-type"].startswith("application/json")
        assert await reply.read() == b'echo:{"a":1}'
        request = seen[0]
        assert request.method == "POST" and request.path_qs == "/v1/messages?beta=true"
        assert request.headers["Host"] == f"127.0.0.1:{port}"
        assert request.headers["Content-Length"] == "7"
        assert request.headers["Accept-Encoding"] == "identity"
        assert request.headers["Connection"] == "keep-alive"
        assert request.headers["x-api-key"] == "k"

        reply = await client.post(url, b"", {"accept-encoding": "gzip"}, read_timeout=2)
        await reply.read()
        assert seen[1].headers["Accept-Encoding"] == "gzip"


@on_both_loops
async def test_repeated_headers_are_joined_and_informational_answers_skipped() -> None:
    answer = (b"HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n"
              b"HTTP/1.1 201 Created\r\nX-A: 1\r\nx-a: 2\r\ncontent-length: 2\r\n\r\nhi")
    async with keep_alive_server(answer) as server, fast_client() as client:
        reply = await post(client, server.url)
        assert reply.status == 201
        assert reply.headers == {"x-a": "1, 2", "content-length": "2"}
        assert await reply.read() == b"hi"


@on_both_loops
async def test_chunked_body_in_odd_splits() -> None:
    pieces = [
        b"HTTP/1.1 200 OK\r\ntransfer-",
        b"encoding: chunked\r\n\r\n",
        b"5\r\nhello\r\n1",  # split inside the chunk-size line ("1" then "0")
        b"0\r\n0123456789abcdef\r",  # 0x10 bytes, then a split inside the CRLF
        b"\n3;ext=1\r\nabc\r\n0",
        b"\r\n",
        b"\r\n",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader) is not None:
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.01)  # separate TCP segments, separate data_received calls

    server = RawServer(handler)
    async with server, fast_client() as client:
        reply = await post(client, server.url)
        assert await reply.read() == b"hello0123456789abcdefabc"
        received = [chunk async for chunk in (await post(client, server.url)).chunks()]
        assert b"".join(received) == b"hello0123456789abcdefabc"
        assert server.connections == 1


@on_both_loops
async def test_stream_chunks_arrive_before_the_rest_is_sent() -> None:
    first_seen = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
        await writer.drain()
        await first_seen.wait()  # the second chunk only exists once the client has the first
        writer.write(b"7\r\nsecond\n\r\n0\r\n\r\n")
        await writer.drain()

    server = RawServer(handler)
    async with server, fast_client() as client:
        reply = await post(client, server.url)
        received = []
        async for chunk in reply.chunks():
            received.append(chunk)
            first_seen.set()
        assert received == [b"first\n", b"second\n"]


@on_both_loops
async def test_keep_alive_reuses_one_connection() -> None:
    async with keep_alive_server() as server, fast_client() as client:
        for _ in range(20):
            reply = await post(client, server.url)
            assert await reply.read() == b'{"ok":true}'
        assert (server.connections, server.requests) == (1, 20)


@on_both_loops
async def test_concurrent_requests_open_parallel_connections_then_reuse_them() -> None:
    async with keep_alive_server() as server, fast_client() as client:
        async def one() -> bytes:
            return await (await post(client, server.url)).read()

        assert await asyncio.gather(*[one() for _ in range(8)]) == [b'{"ok":true}'] * 8
        opened = server.connections
        await asyncio.gather(*[one() for _ in range(8)])
        assert server.connections == opened


@on_both_loops
async def test_idle_pool_is_capped_and_old_connections_age_out() -> None:
    async with keep_alive_server() as server, fast_client(max_idle_per_host=2, idle_timeout=0.1) as client:
        replies = await asyncio.gather(*[post(client, server.url) for _ in range(5)])
        for reply in replies:
            await reply.read()
        assert [len(idle) for idle in client._idle.values()] == [2]
        await (await post(client, server.url)).read()
        assert server.connections == 5
        await asyncio.sleep(0.15)  # older than idle_timeout: not reused
        await (await post(client, server.url)).read()
        assert server.connections == 6


@on_both_loops
async def test_status_204_has_no_body_and_keeps_the_connection() -> None:
    async with keep_alive_server(b"HTTP/1.1 204 No Content\r\nx-n: 1\r\n\r\n") as server, \
            fast_client() as client:
        for _ in range(3):
            reply = await post(client, server.url)
            assert reply.status == 204
            assert await reply.read() == b""
        assert server.connections == 1


@on_both_loops
async def test_http10_body_runs_until_the_server_closes() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\npart one, ")
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(b"part two")
        await writer.drain()
        writer.close()

    server = RawServer(handler)
    async with server, fast_client() as client:
        assert await (await post(client, server.url)).read() == b"part one, part two"
        assert await (await post(client, server.url)).read() == b"part one, part two"
        assert server.connections == 2


@on_both_loops
async def test_connection_close_answer_is_not_pooled() -> None:
    # The server keeps the socket open: only the header tells the client not to reuse it.
    async with keep_alive_server(response(b"{}", b"connection: close\r\n")) as server, \
            fast_client() as client:
        for _ in range(3):
            assert await (await post(client, server.url)).read() == b"{}"
        assert server.connections == 3


# -- failures ------------------------------------------------------------------------------


@on_both_loops
async def test_idle_connection_closed_by_server_is_replaced() -> None:
    async def one_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        await asyncio.sleep(0.01)  # then close the idle keep-alive connection

    server = RawServer(one_per_connection)
    async with server, fast_client() as client:
        assert await (await post(client, server.url)).read() == b'{"ok":true}'
        await asyncio.sleep(0.1)  # the FIN arrives while the connection sits in the pool
        assert not any(client._idle.values())
        assert await (await post(client, server.url)).read() == b'{"ok":true}'
        assert (server.connections, server.requests) == (2, 2)


@pytest.mark.parametrize("how", ["reset", "close"])
@on_both_loops
async def test_reused_connection_dropped_before_answer_is_retried_once(how: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = server.connections == 1
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        if first:  # the second request on the first connection is read, then dropped
            await server.read_request(reader)
            if how == "reset":
                reset(writer)
            else:
                writer.close()
            return
        while await server.read_request(reader) is not None:
            writer.write(OK)
            await writer.drain()

    server = RawServer(handler)
    async with server, fast_client() as client:
        await (await post(client, server.url)).read()
        assert await (await post(client, server.url)).read() == b'{"ok":true}'
        assert (server.connections, server.requests) == (2, 3)


@on_both_loops
async def test_retry_happens_at_most_once_and_never_on_a_fresh_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if server.connections == 1:
            await server.read_request(reader)
            writer.write(OK)
            await writer.drain()
        await server.read_request(reader)
        reset(writer)

    server = RawServer(handler)
    async with server, fast_client() as client:
        await (await post(client, server.url)).read()
        with pytest.raises(FastClientError, match="before any response byte"):
            await post(client, server.url)  # reused fails, the one retry fails: no third try
        assert server.connections == 2
        with pytest.raises(FastClientError, match=r"127\.0\.0\.1:\d+"):
            await post(client, server.url)  # fresh connection fails: no retry
        assert server.connections == 3


@on_both_loops
async def test_connection_refused_names_host_and_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with fast_client() as client:
        with pytest.raises(FastClientError, match=f"cannot connect to 127.0.0.1:{port}"):
            await post(client, f"http://127.0.0.1:{port}/v1/x")


@on_both_loops
async def test_read_timeout_while_waiting_for_headers() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await asyncio.sleep(3)

    server = RawServer(silent)
    async with server, fast_client() as client:
        started = time.monotonic()
        with pytest.raises(FastClientError, match="read timeout"):
            await post(client, server.url, read_timeout=0.2)
        assert 0.15 < time.monotonic() - started < 0.6


@on_both_loops
async def test_read_timeout_in_the_body_after_what_arrived() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await asyncio.sleep(3)

    server = RawServer(stall)
    async with server, fast_client() as client:
        reply = await post(client, server.url, read_timeout=0.2)
        received = []
        started = time.monotonic()
        with pytest.raises(FastClientError, match="read timeout"):
            async for chunk in reply.chunks():
                received.append(chunk)
        assert received == [b"abc"]
        assert 0.1 < time.monotonic() - started < 0.6


@on_both_loops
async def test_slow_but_steady_stream_outlives_the_read_timeout() -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for i in range(8):
            await asyncio.sleep(0.08)
            writer.write(b"1\r\n%d\r\n" % i)
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    server = RawServer(drip)
    async with server, fast_client() as client:
        started = time.monotonic()
        reply = await post(client, server.url, read_timeout=0.2)
        assert b"".join([c async for c in reply.chunks()]) == b"01234567"
        assert time.monotonic() - started > 0.5  # three times the timeout, never tripped


@on_both_loops
async def test_release_mid_body_closes_the_connection() -> None:
    dropped = asyncio.Event()

    async def partial(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly ten b")
        await writer.drain()
        try:
            assert await reader.read(1) == b""
        finally:
            dropped.set()

    server = RawServer(partial)
    async with server, fast_client() as client:
        reply = await post(client, server.url)
        reply.release()
        await asyncio.wait_for(dropped.wait(), 1)
        assert not any(client._idle.values())
        reply = await post(client, server.url)
        reply.release()
        assert server.connections == 2


@on_both_loops
async def test_stopping_chunks_early_closes_the_connection() -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"2\r\nxx\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)

    server = RawServer(endless)
    async with server, fast_client() as client:
        stream = (await post(client, server.url)).chunks()
        assert await anext(stream)
        await stream.aclose()  # what `break` in an `async for` does
        assert not any(client._idle.values())
        await asyncio.sleep(0.05)
        assert not client._open


@on_both_loops
async def test_body_cut_short_and_malformed_answers_raise() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        if server.connections == 1:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        else:
            writer.write(b"HTTX/1.1 banana\r\n\r\n")
        await writer.drain()

    server = RawServer(cut)
    async with server, fast_client() as client:
        reply = await post(client, server.url)
        with pytest.raises(FastClientError, match="in the response body"):
            await reply.read()
        with pytest.raises(FastClientError, match="malformed response"):
            await post(client, server.url)


@on_both_loops
async def test_header_injection_is_refused() -> None:
    async with fast_client() as client:
        with pytest.raises(ValueError, match="CR or LF"):
            await client.post("http://127.0.0.1:1/", b"", {"x-a": "1\r\nx-b: 2"}, read_timeout=1)


# -- flow control --------------------------------------------------------------------------

BIG = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)  # 5 MiB


def big_server() -> RawServer:
    async def blast(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await server.read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(BIG))
            view = memoryview(BIG)
            for start in range(0, len(BIG), 65536):
                writer.write(view[start:start + 65536])
                await writer.drain()

    server = RawServer(blast)
    return server


@on_both_loops
async def test_large_body_is_paused_while_the_consumer_is_slow() -> None:
    async with big_server() as server, fast_client() as client:
        reply = await post(client, server.url)
        sizes = []
        digest = hashlib.sha256()
        async for chunk in reply.chunks():
            sizes.append(len(chunk))
            digest.update(chunk)
            await asyncio.sleep(0.03)  # long enough for loopback to deliver all 5 MiB unpaused
        assert digest.digest() == hashlib.sha256(BIG).digest()
        assert max(sizes) <= 2 * HIGH_WATER, sizes
        assert max(sizes) > HIGH_WATER // 2  # the consumer really was slow: big batches
        # and the connection is still good for the next request, read whole this time
        assert await (await post(client, server.url)).read() == BIG
        assert server.connections == 1


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@on_both_loops
async def test_tls_with_a_trusted_self_signed_certificate(certificate: tuple[Path, Path]) -> None:
    cert_path, key_path = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)
    transports: set[object] = set()

    async def handler(request: web.Request) -> web.StreamResponse:
        transports.add(request.transport)
        if request.path.endswith("/stream"):
            reply = web.StreamResponse()
            await reply.prepare(request)
            for word in (b"data: a\n\n", b"data: b\n\n"):
                await reply.write(word)
            await reply.write_eof()
            return reply
        return web.Response(body=b"secure:" + await request.read())

    async with aiohttp_server(handler, server_context) as port:
        trusting = ssl.create_default_context(cafile=str(cert_path))
        async with fast_client(ssl_context=trusting) as client:
            for host in ("127.0.0.1", "localhost", "127.0.0.1"):
                reply = await post(client, f"https://{host}:{port}/v1/x", b"hi")
                assert await reply.read() == b"secure:hi"
            reply = await post(client, f"https://127.0.0.1:{port}/v1/stream")
            assert b"".join([c async for c in reply.chunks()]) == b"data: a\n\ndata: b\n\n"
            assert len(transports) == 2  # one per host name, reused

        async with fast_client() as client:  # the system CA store does not know this cert
            with pytest.raises(FastClientError, match="cannot connect.*CERTIFICATE_VERIFY_FAILED"):
                await post(client, f"https://127.0.0.1:{port}/v1/x")
