"""uvicorn's HTTP protocol with a deadline for a request's headers: `uvicorn --http` names it.

uvicorn times out idle keep-alive connections, but not a request whose headers never end: a
client that sends them a byte at a time holds its connection for as long as it likes (200 such
connections stayed open for 30 s in a probe), where nginx would give it
`client_header_timeout`. Here the headers must be complete within HTTP_HEADER_TIMEOUT seconds
of the connection opening, or of the request's first byte on a kept-alive connection; past
that the client gets a 408 and the connection closes.
"""

import asyncio

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TIMEOUT_MESSAGE = b"The request's headers took too long."
TIMEOUT_RESPONSE = b"".join(
    [
        b"HTTP/1.1 408 Request Timeout\r\n",
        b"content-type: text/plain; charset=utf-8\r\n",
        b"content-length: %d\r\n" % len(TIMEOUT_MESSAGE),
        b"connection: close\r\n\r\n",
        TIMEOUT_MESSAGE,
    ]
)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_deadline is None:  # a kept-alive connection's next request
            self._start_header_deadline()

    def on_headers_complete(self) -> None:
        self._cancel_header_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def _start_header_deadline(self) -> None:
        self.header_deadline = self.loop.call_later(
            settings.HTTP_HEADER_TIMEOUT, self._headers_too_slow
        )

    def _cancel_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _headers_too_slow(self) -> None:
        self.header_deadline = None
        if not self.transport.is_closing():
            self.transport.write(TIMEOUT_RESPONSE)
            self.transport.close()
