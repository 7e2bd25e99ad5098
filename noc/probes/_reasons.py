"""One line for a person out of a network exception chain.

Network libraries wrap the error that matters (``ECONNREFUSED``, a certificate failure) under
their own: httpx over httpcore over anyio, which groups the attempts for every address. Probes
report the innermost cause, named the way the operating system names it.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from typing import TypeVar

_E = TypeVar("_E", bound=BaseException)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """An exception and what caused it, following the first member of exception groups."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup) and current.exceptions:
            current = current.exceptions[0]
        else:
            current = current.__cause__ or current.__context__


def cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """The outermost exception of type ``kind`` in the chain, if any."""
    return next((link for link in chain(exc) if isinstance(link, kind)), None)


def reason(exc: BaseException) -> str:
    """The root OS error's text ("Connection refused"), else the exception's first line."""
    for link in reversed(list(chain(exc))):
        if isinstance(link, ssl.SSLError) or not isinstance(link, OSError):
            continue
        if isinstance(link.errno, int) and link.errno > 0:
            return os.strerror(link.errno)  # asyncio puts the address where strerror goes
        if link.strerror:
            return str(link.strerror)
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
