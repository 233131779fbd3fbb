"""`python -m demo [CONFIG]`: the provider on 5000 and the two demo portals on 5001 and 5002; Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def main() -> int:
    config = sys.argv[1] if len(sys.argv) > 1 else "config/demo.yaml"
    bin_dir = Path(sys.executable).parent
    processes = [
        subprocess.Popen([str(bin_dir / "idp"), "--config", config, "serve", "--port", "5000"]),
        subprocess.Popen([sys.executable, "-m", "demo.portal", "shop"]),
        subprocess.Popen([sys.executable, "-m", "demo.portal", "pricing"]),
    ]
    print("Provider http://127.0.0.1:5000 · shop http://127.0.0.1:5001 · pricing http://127.0.0.1:5002 (Ctrl-C stops)")
    try:
        while all(p.poll() is None for p in processes):
            try:
                processes[0].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
