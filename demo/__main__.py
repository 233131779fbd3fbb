"""`python -m demo [CONFIG]`: the provider on 5000 and the two demo portals on 5001 and 5002.

Ctrl-C, SIGTERM and SIGHUP stop all three (and the provider's granian workers), and so does the
end of the process that started the launcher (`make run` passes SIGTERM on, not SIGHUP). `--port`,
`--shop-port` and `--pricing-port` move them (the tests use free ports); the portals find the
provider at the configuration's issuer.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

import yaml

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop(Exception):
    """A stop signal arrived."""


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="config/demo.yaml")
    parser.add_argument("--port", type=int, default=5000, help="the provider's port")
    parser.add_argument("--shop-port", type=int, default=5001)
    parser.add_argument("--pricing-port", type=int, default=5002)
    return parser.parse_args(argv)


def _issuer(config: str, port: int) -> str:
    try:
        issuer = yaml.safe_load(Path(config).read_text(encoding="utf-8")).get("issuer")
    except (OSError, yaml.YAMLError, AttributeError):
        issuer = None  # `idp serve` says what is wrong with the file, and the launcher stops
    return issuer if isinstance(issuer, str) else f"http://127.0.0.1:{port}"


def _end(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each child's process group (granian's workers are in the provider's), then SIGKILL."""
    for process in processes:
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=5)
        # A worker that outlived its parent is still in the group.
        _signal_group(process, signal.SIGKILL)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass  # the whole group is gone already


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    bin_dir = Path(sys.executable).parent
    issuer = _issuer(args.config, args.port)
    ports = [str(args.shop_port), str(args.pricing_port)]
    commands = [
        [str(bin_dir / "idp"), "--config", args.config, "serve", "--port", str(args.port)],
        [sys.executable, "-m", "demo.portal", "shop", issuer, *ports],
        [sys.executable, "-m", "demo.portal", "pricing", issuer, *ports],
    ]
    # Handlers first, so that a signal arriving while the children start still stops them.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop)
    processes: list[subprocess.Popen[bytes]] = []
    stopped = False
    try:
        # The portals read the role labels from the same configuration (demo.portal.role_labels).
        env = {**os.environ, "IDP_CONFIG": args.config}
        # Each child leads its own process group, so the stop reaches the provider's workers too,
        # whichever way the launcher was asked to stop (a terminal's Ctrl-C, `kill`, a closed terminal).
        for command in commands:
            processes.append(subprocess.Popen(command, start_new_session=True, env=env))
        print(f"Provider {issuer} · shop http://127.0.0.1:{args.shop_port} · "
              f"pricing http://127.0.0.1:{args.pricing_port} (Ctrl-C stops)", flush=True)
        parent = os.getppid()
        while all(process.poll() is None for process in processes):
            if os.getppid() != parent:
                # Whoever started the launcher is gone (`make run` stops on SIGHUP or SIGKILL
                # without passing it on): nobody is left to stop the servers, so stop now.
                raise _Stop
            try:
                processes[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    except _Stop:
        stopped = True
    finally:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        _end(processes)
    # A child that ended by itself (a port in use, a bad configuration) makes `make run` fail.
    return 0 if stopped else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
