"""Reading at most N bytes of a provider's response body (the provider-answer size limit).

The openai and anthropic SDKs read the whole body into memory before we see it. A response event hook on the
SDK's own httpx client runs after the headers arrive and before the body is read: a Content-Length over the
limit is refused before reading anything, and a body without one is cut off as soon as it passes the limit.
A hook (not a wrapped transport) also covers proxied connections, whose transports httpx mounts itself. The
error is a `MalformedResponseError` (final, never retried). The SDKs may use `httpx` or its fork `httpx2`; the
stream class is built from whichever module the SDK's client class comes from.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Any

from image_annotator_lib.cloud.errors import MalformedResponseError


def _too_large(limit: int, size: int | None = None) -> MalformedResponseError:
    got = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return MalformedResponseError(
        f"response is too large ({got}; the limit is {limit:,} bytes, option max_response_bytes)"
    )


@cache
def _stream_class(module_name: str) -> type:
    """A byte stream of `module_name` (httpx or httpx2) that stops after a number of bytes."""
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

    return LimitedStream


def size_limit_hook(module_name: str, limit: int) -> Callable[[Any], Awaitable[None]]:
    """A response event hook refusing bodies over `limit` bytes."""
    stream_class = _stream_class(module_name)

    async def hook(response: Any) -> None:
        length = response.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await response.aclose()
            raise _too_large(limit, int(length))
        response.stream = stream_class(response.stream, limit)

    return hook


def limited_async_client(client_class: Any, limit: int, **kwargs: Any) -> Any:
    """An instance of the SDK's async httpx client class whose responses are capped at `limit` bytes."""
    module_name = next(
        base.__module__.split(".")[0]
        for base in client_class.__mro__
        if base.__name__ == "AsyncClient" and base.__module__.split(".")[0] in ("httpx", "httpx2")
    )
    return client_class(event_hooks={"response": [size_limit_hook(module_name, limit)]}, **kwargs)
