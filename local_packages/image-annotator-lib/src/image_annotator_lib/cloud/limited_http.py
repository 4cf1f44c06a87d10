"""An httpx transport that reads at most N bytes of a response body (the provider-answer size limit).

The openai and anthropic SDKs read the whole body into memory before we see it. Wrapping the SDK's own
httpx client transport refuses an oversized answer while it streams in: a Content-Length over the limit is
refused before reading anything, and a body without one is cut off as soon as it passes the limit. The error
is a `MalformedResponseError` (final, never retried). The SDKs may use `httpx` or its fork `httpx2`; the
classes are built from whichever module the SDK's client class comes from.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from functools import cache
from typing import Any

from image_annotator_lib.cloud.errors import MalformedResponseError


def _too_large(limit: int, size: int | None = None) -> MalformedResponseError:
    got = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return MalformedResponseError(
        f"response is too large ({got}; the limit is {limit:,} bytes, option max_response_bytes)"
    )


@cache
def _classes(module_name: str) -> tuple[type, type]:
    """(transport wrapper, stream wrapper) subclassing the base classes of `module_name` (httpx or httpx2)."""
    httpx: Any = importlib.import_module(module_name)

    class LimitedStream(httpx.AsyncByteStream):
        def __init__(self, inner: Any, limit: int) -> None:
            self._inner = inner
            self._limit = limit

        async def __aiter__(self) -> AsyncIterator[bytes]:
            seen = 0
            async for chunk in self._inner:
                seen += len(chunk)
                if seen > self._limit:
                    raise _too_large(self._limit)
                yield chunk

        async def aclose(self) -> None:
            await self._inner.aclose()

    class LimitedTransport(httpx.AsyncBaseTransport):
        def __init__(self, inner: Any, limit: int) -> None:
            self._inner = inner
            self._limit = limit

        async def handle_async_request(self, request: Any) -> Any:
            response = await self._inner.handle_async_request(request)
            length = response.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > self._limit:
                await response.aclose()
                raise _too_large(self._limit, int(length))
            response.stream = LimitedStream(response.stream, self._limit)
            return response

        async def aclose(self) -> None:
            await self._inner.aclose()

    return LimitedTransport, LimitedStream


def limited_async_client(client_class: Any, limit: int, **kwargs: Any) -> Any:
    """An instance of the SDK's async httpx client class whose responses are capped at `limit` bytes."""
    module_name = next(
        base.__module__.split(".")[0]
        for base in client_class.__mro__
        if base.__name__ == "AsyncClient" and base.__module__.split(".")[0] in ("httpx", "httpx2")
    )
    httpx: Any = importlib.import_module(module_name)
    transport_class, _ = _classes(module_name)
    return client_class(transport=transport_class(httpx.AsyncHTTPTransport(), limit), **kwargs)
