"""`idp serve`: the provider under granian, a production WSGI server.

granian parses HTTP and holds the connections in Rust and calls the application from a small
pool of Python threads: per request it costs about half of what gunicorn's threaded worker costs,
which on the token endpoint is a large share of the whole (see the README's benchmark section).
The application is built in each worker after the fork, so no database connection, lock or
thread is shared between processes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from idp.config import IdpConfig


def log_to_stderr() -> None:
    """The provider's log on stderr, a line per event: security events (idp.audit) at INFO,
    outages and errors above. The server's own log stays at warnings."""
    logger = logging.getLogger("idp")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _loader(config: IdpConfig) -> Callable[[str], Any]:
    def load(_target: str) -> Any:
        from idp import create_app

        log_to_stderr()
        return create_app(config)

    return load


def serve_forever(config: IdpConfig, *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until SIGTERM or SIGINT; workers finish the requests they hold, then stop."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    server = Server(
        "idp:create_app",  # informational: the loader below builds the application
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        log_level=LogLevels.warning,
        log_access=False,
        workers_kill_timeout=5,
        respawn_failed_workers=True,
    )
    server.serve(target_loader=_loader(config))
