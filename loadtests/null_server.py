"""A canned-response HTTP server: the measuring floor (what wrk + loopback TCP cost by themselves).

uvloop + a bare asyncio.Protocol that finds each request's end (headers + Content-Length) and
answers every one with the same pre-built 200 response. No HTTP parser, no ASGI, no JSON. The
latency wrk measures against it is wrk's own overhead plus the kernel's loopback round trip.

    python loadtests/null_server.py --port 8003
"""

from __future__ import annotations

import argparse
import asyncio

BODY = (
    b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"{}"}],"isError":false}}'
)
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


class Canned(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        answers = 0
        while True:
            head_end = buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = buf[:head_end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
            end = head_end + 4 + length
            if len(buf) < end:
                break
            buf = buf[end:]
            answers += 1
        self.buf = buf
        if answers:
            self.transport.write(RESPONSE * answers)


async def serve(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Canned, host, port)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    opts = parser.parse_args()
    import uvloop

    uvloop.run(serve(opts.host, opts.port))


if __name__ == "__main__":
    main()
