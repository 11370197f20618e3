"""The Epicor Kinetic emulator, served from this process: for your own tests.

::

    from epicor_kinetic import emulator, connect

    with emulator.start(scale=1000) as emu:
        conn = connect(emu.connection_string("basic"))
        ...

It is the same server as ``kinetic emulator``: the REST API (v1 and v2), every sign-in Epicor
offers (Basic, Epicor's token service, API keys, sessions) and an Azure AD compatible identity
provider, over demo data of ``scale`` order lines, on 127.0.0.1 at a free port.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional, Union

from . import _internal

__all__ = ["start", "Emulator"]


class Emulator:
    """A running emulator. ``stop()`` it (or use it as a context manager)."""

    def __init__(self, inner: "_internal.Emulator") -> None:
        self._inner = inner
        self.info: dict[str, Any] = json.loads(inner.startup_info)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` when started with ``tls=True``)."""
        return self._inner.url

    @property
    def connection_strings(self) -> dict[str, str]:
        """A ready connection string per sign-in: ``basic``, ``basic_v2``, ``basic_session``,
        ``token``, ``azuread_client_secret``, ``oauth_discovery``, ``azuread_code``, ..."""
        return dict(self.info.get("connection_strings", {}))

    def connection_string(self, scheme: str = "basic") -> str:
        """The connection string for ``scheme`` (see :attr:`connection_strings`)."""
        strings = self.connection_strings
        if scheme not in strings:
            raise KeyError(f"no {scheme!r} connection string; there are: {', '.join(sorted(strings))}")
        return strings[scheme]

    def requests(self) -> list[tuple[str, str, int]]:
        """The requests served so far as (method, path and query, status): kept only when
        started with ``request_log=N`` (the last N)."""
        return self._inner.requests()

    def clear_requests(self) -> None:
        self._inner.clear_requests()

    def stop(self) -> None:
        """Stops serving (idempotent)."""
        self._inner.stop()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<epicor_kinetic.emulator.Emulator {self.url}>"


def start(
    scale: int = 5000,
    *,
    seed: Optional[int] = None,
    tls: bool = False,
    strict_paging: bool = False,
    token_lifetime_secs: Optional[int] = None,
    request_log: int = 0,
    config: Optional[Union[str, "os.PathLike[str]"]] = None,
) -> Emulator:
    """Starts an emulator with ``scale`` order lines of demo data.

    ``tls`` serves HTTPS with a self-signed certificate (the connection strings trust it);
    ``strict_paging`` pages by ``$skiptoken`` and refuses ``$skip``, as some servers do;
    ``token_lifetime_secs`` shortens tokens (to test renewal); ``request_log`` keeps the last N
    requests for :meth:`Emulator.requests`; ``config`` is an emulator TOML file (see
    ``kinetic emulator --help``).
    """
    inner = _internal.Emulator(
        scale=scale,
        seed=seed,
        tls=tls,
        strict_paging=strict_paging,
        token_lifetime_secs=token_lifetime_secs,
        request_log=request_log,
        config=os.fspath(config) if config is not None else None,
    )
    return Emulator(inner)
