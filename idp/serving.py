"""`idp serve`: the provider under granian, a production WSGI server.

granian parses HTTP and holds the connections in Rust and calls the application from a small
pool of Python threads: per request it costs about half of what gunicorn's threaded worker costs,
which on the token endpoint is a large share of the whole (see the README's benchmark section).
The application is built in each worker after the fork, so no database connection, lock or
thread is shared between processes.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from idp.config import IdpConfig


class JsonFormatter(logging.Formatter):
    """`log.format: json`: one JSON object per event, on one line. An audit event carries its
    fields (event, user_id, ip and its details) as keys of their own, for the log collector to index."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        fields = getattr(record, "idp_fields", None)
        if isinstance(fields, dict):
            entry.update({key: value for key, value in fields.items() if key not in entry})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_to_stderr(log_format: str = "text") -> None:
    """The provider's log on stderr, one event per line (a JSON object with `log.format: json`):
    security events (idp.audit) at INFO, outages and errors above. The server's own log stays at warnings."""
    logger = logging.getLogger("idp")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if log_format == "json"
                             else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _loader(config: IdpConfig) -> Callable[[str], Any]:
    def load(_target: str) -> Any:
        from idp import create_app

        log_to_stderr(config.log.format)
        return create_app(config)

    return load


def metrics_directory() -> str:
    """PROMETHEUS_MULTIPROC_DIR, where each worker writes its metrics and a scrape adds them up: the
    operator's (emptied of a previous run's files, whose counts would be added to this run's), else a
    new temporary one.

    To be called before prometheus_client is imported: it reads the variable once, at import, and the
    workers inherit the parent's modules.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.unlink(os.path.join(directory, name))
    else:
        directory = tempfile.mkdtemp(prefix="idp-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def serve_forever(config: IdpConfig, *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until SIGTERM or SIGINT; workers finish the requests they hold, then stop."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    values = sys.modules.get("prometheus_client.values")
    if values is not None and values.ValueClass.__name__ == "MutexValue":
        # Each worker would count for itself and a scrape would show one worker's share.
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set")
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
