"""The two servers measured: ours (`idp serve`, granian) and the peer (node oidc-provider 9).

Both get the same clients (a confidential one with client_credentials, authorization_code and
refresh_token over client_secret_basic; a public one with PKCE S256), RS256 signatures, JWT
access tokens, refresh-token rotation and one user whose password is hashed with argon2id at
the same parameters. Both are pinned to the server core and listen on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench import system
from bench.signin import Client, Target

ROOT = Path(__file__).resolve().parents[1]
PEER_DIR = ROOT / "bench" / "peer"
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the client stops at the redirect
ACCESS_TOKEN_TTL = 600
# argon2id alone is measured in rounds and the best round kept: the least disturbed by whatever
# else runs on the machine, so the ceiling the sign-ins are compared with is not understated.
ARGON2_ROUNDS = 5


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int = 2
    memory_cost_kib: int = 19456
    parallelism: int = 1


def _password() -> str:
    # Meets the default policy (upper, lower, digit, special) and no blocklist.
    return f"Bench-{secrets.token_urlsafe(12)}-9a!"


def _idp_executable() -> str:
    return str(Path(sys.executable).parent / "idp")


class Server:
    """What a scenario needs of a server."""

    name = "server"
    discovery_path = "/.well-known/openid-configuration"
    jwks_path = "/jwks"
    token_path = "/token"  # noqa: S105 - a path, not a secret
    authorize_path = "/authorize"
    health_path = "/healthz"
    authorize_extra: dict[str, str] = {}  # noqa: RUF012 - overridden per class, never mutated

    def __init__(self, workdir: Path, core: int | None, argon2: Argon2Params) -> None:
        self.workdir = workdir
        self.core = core
        self.argon2 = argon2
        self.port = system.free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.login = f"bench-{secrets.token_hex(4)}@example.com"
        self.password = _password()
        secret = secrets.token_urlsafe(24)
        self.app = Client("bench-app", REDIRECT_URI, secret)
        self.mobile = Client("bench-mobile", REDIRECT_URI, None)
        self.process: system.Process | None = None

    @property
    def target(self) -> Target:
        return Target(self.base_url, self.authorize_path, self.token_path, self.login, self.password,
                      dict(self.authorize_extra))

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def worker_pids(self) -> list[int]:
        raise NotImplementedError

    def rss_mb_per_worker(self) -> list[float]:
        return [v for v in (system.rss_mb(pid) for pid in self.worker_pids()) if v is not None]


class Ours(Server):
    name = "ours"

    def __init__(self, workdir: Path, core: int | None, argon2: Argon2Params, *, database_url: str | None,
                 redis_url: str | None, workers: int | None, threads: int | None) -> None:
        super().__init__(workdir, core, argon2)
        self.database_url = database_url
        self.redis_url = redis_url
        self.workers = workers or (2 if redis_url else 1)
        self.threads = threads
        self.config_path = workdir / "idp.yaml"
        self.store_prefix = f"bench-{secrets.token_hex(4)}:"
        self._own_database: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"server": "idp serve (granian)", "workers": self.workers,
                "threads": self.threads or "idp serve's default",
                "database": "postgresql" if self.database_url else "sqlite (embedded default)",
                "store": "redis" if self.redis_url else "in-process (embedded default)"}

    def _config(self) -> dict[str, Any]:
        instance = self.workdir / "instance"
        instance.mkdir(parents=True, exist_ok=True)
        return {
            "issuer": self.base_url,
            "secret_key": secrets.token_urlsafe(48),
            "database_url": self._own_database or f"sqlite:///{instance / 'idp.sqlite3'}",
            "redis_url": self.redis_url,
            "store_prefix": self.store_prefix,
            "instance_path": str(instance),
            "languages": ["en"],
            "mail": {"backend": "file", "worker": False},
            "password_hashing": {"time_cost": self.argon2.time_cost, "memory_cost_kib": self.argon2.memory_cost_kib,
                                 "parallelism": self.argon2.parallelism},
            "tokens": {"access_token_ttl_seconds": ACCESS_TOKEN_TTL, "id_token_ttl_seconds": ACCESS_TOKEN_TTL},
            # Every benchmarked sign-in comes from this one address: far more than an office's.
            "throttling": {"authorize_per_ip": "1000000 per minute"},
            "flows": ["login"],
            "clients": [
                {"client_id": self.app.client_id, "secret": self.app.secret, "redirect_uris": [REDIRECT_URI],
                 "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                 "token_endpoint_auth_method": "client_secret_basic", "scopes": ["openid", "offline_access"]},
                {"client_id": self.mobile.client_id, "redirect_uris": [REDIRECT_URI],
                 "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none",
                 "scopes": ["openid", "offline_access"]},
            ],
        }

    def _idp(self, *args: str, stdin: str | None = None) -> None:
        completed = subprocess.run([_idp_executable(), "--config", str(self.config_path), *args], input=stdin,
                                   capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"idp {' '.join(args)} failed: {completed.stderr[-2000:]}{completed.stdout[-500:]}")

    def _create_database(self) -> None:
        """A fresh PostgreSQL database beside the one IDP_BENCH_DATABASE_URL names, dropped by stop()."""
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        assert self.database_url is not None
        base = make_url(self.database_url)
        name = f"idp_bench_{secrets.token_hex(6)}"
        engine = create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self._own_database = base.set(database=name).render_as_string(hide_password=False)

    def _cleanup_backends(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        if self._own_database is not None and self.database_url is not None:
            from sqlalchemy import create_engine, text
            from sqlalchemy.engine import make_url

            name = make_url(self._own_database).database
            try:
                engine = create_engine(make_url(self.database_url), isolation_level="AUTOCOMMIT")
                with engine.connect() as connection:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                engine.dispose()
            except SQLAlchemyError as exc:
                print(f"bench: could not drop the database {name}: {exc}", file=sys.stderr)
            self._own_database = None
        if self.redis_url:
            import redis

            try:
                client = redis.Redis.from_url(self.redis_url)
                keys = list(client.scan_iter(match=f"{self.store_prefix}*", count=1000))
                for start in range(0, len(keys), 500):
                    client.delete(*keys[start:start + 500])
                client.close()
            except redis.RedisError as exc:
                print(f"bench: could not forget the Redis keys {self.store_prefix}*: {exc}", file=sys.stderr)

    def stop(self) -> None:
        super().stop()
        self._cleanup_backends()

    def prepare(self) -> None:
        """Its database (migrated), its configuration and its one user."""
        if self.database_url and self._own_database is None:
            self._create_database()
        self.config_path.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        self._idp("db", "upgrade")
        self._idp("users", "create", "--email", self.login, "--given-name", "Bench", "--family-name", "User",
                  "--password-stdin", stdin=self.password + "\n")

    def start(self) -> None:
        self.prepare()
        command = [_idp_executable(), "--config", str(self.config_path), "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", str(self.workers)]
        if self.threads:
            command += ["--threads", str(self.threads)]
        self.process = system.Process(system.pinned(self.core, command), self.workdir / "ours.log", ROOT)
        system.wait_http(self.base_url + self.health_path, self.process)

    def breakdown(self) -> dict[str, Any]:
        """bench.breakdown on a database of its own, pinned to the server core (the server is not started)."""
        try:
            self.prepare()
            given = {"config": str(self.config_path), "login": self.login, "password": self.password,
                     "client_id": self.app.client_id, "secret": self.app.secret or "",
                     "redirect_uri": self.app.redirect_uri}
            completed = subprocess.run(system.pinned(self.core, [sys.executable, "-m", "bench.breakdown"]),
                                       input=json.dumps(given), capture_output=True, text=True, timeout=600,
                                       cwd=ROOT, check=False)
        finally:
            self._cleanup_backends()
        if completed.returncode != 0:
            return {"note": f"failed: {completed.stderr.strip()[-400:]}"}
        return json.loads(completed.stdout.strip().splitlines()[-1])

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        # pinned() execs in place, so the process is granian's main process; its children are the workers.
        return system.children(self.process.pid)

    def argon2_alone(self, seconds: float) -> dict[str, Any]:
        """argon2-cffi verifications per second on the server core, as the login form does them."""
        code = (
            "import sys, time\n"
            "from argon2 import PasswordHasher\n"
            "t, m, p, seconds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])\n"
            "hasher = PasswordHasher(time_cost=t, memory_cost=m, parallelism=p)\n"
            "digest = hasher.hash('correct horse battery staple')\n"
            "hasher.verify(digest, 'correct horse battery staple')\n"
            "for _round in range(ROUNDS):\n"
            "    count, start, cpu = 0, time.perf_counter(), time.process_time()\n"
            "    while time.perf_counter() - start < seconds / ROUNDS and count < 100000:\n"
            "        hasher.verify(digest, 'correct horse battery staple')\n"
            "        count += 1\n"
            "    print(count / (time.perf_counter() - start), count / (time.process_time() - cpu))\n"
        )
        code = code.replace("ROUNDS", str(ARGON2_ROUNDS))
        command = [sys.executable, "-c", code, str(self.argon2.time_cost), str(self.argon2.memory_cost_kib),
                   str(self.argon2.parallelism), str(seconds)]
        return _rate_of(system.pinned(self.core, command), seconds, ROOT)


class Peer(Server):
    name = "peer"
    authorize_extra = {"prompt": "consent"}  # noqa: RUF012 - oidc-provider keeps offline_access only with it

    def describe(self) -> dict[str, Any]:
        return {"server": "node oidc-provider (bench/peer/server.mjs), one process", "store": "in memory"}

    @staticmethod
    def node() -> str | None:
        return shutil.which("node")

    @staticmethod
    def installed() -> bool:
        return (PEER_DIR / "node_modules" / "oidc-provider" / "package.json").exists()

    @staticmethod
    def install() -> None:
        """npm ci from the committed lockfile, when node_modules is missing."""
        if Peer.installed():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is missing: the peer needs node and npm (apt-get install -y nodejs npm)")
        completed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, capture_output=True,
                                   text=True, timeout=600, check=False)
        if completed.returncode != 0:
            raise RuntimeError(f"npm ci failed in bench/peer: {completed.stderr[-2000:]}")

    @staticmethod
    def versions() -> dict[str, str | None]:
        out: dict[str, str | None] = {"node": None, "oidc_provider": None, "node_rs_argon2": None}
        node = Peer.node()
        if node:
            out["node"] = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30,
                                         check=False).stdout.strip()
        for key, package in (("oidc_provider", "oidc-provider"), ("node_rs_argon2", "@node-rs/argon2")):
            path = PEER_DIR / "node_modules" / package / "package.json"
            if path.exists():
                out[key] = json.loads(path.read_text())["version"]
        return out

    def start(self) -> None:
        node = self.node()
        if node is None:
            raise RuntimeError("node is missing")
        settings = {
            "port": self.port, "issuer": self.base_url, "resource": "urn:bench:api",
            "access_token_ttl": ACCESS_TOKEN_TTL,
            "user": {"login": self.login, "password": self.password, "sub": f"bench-{secrets.token_hex(8)}"},
            "argon2": {"memory_cost_kib": self.argon2.memory_cost_kib, "time_cost": self.argon2.time_cost,
                       "parallelism": self.argon2.parallelism},
            "clients": [
                {"client_id": self.app.client_id, "client_secret": self.app.secret,
                 "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                 "response_types": ["code"], "redirect_uris": [REDIRECT_URI],
                 "token_endpoint_auth_method": "client_secret_basic", "id_token_signed_response_alg": "RS256"},
                {"client_id": self.mobile.client_id, "grant_types": ["authorization_code", "refresh_token"],
                 "response_types": ["code"], "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none",
                 "id_token_signed_response_alg": "RS256"},
            ],
        }
        settings_path = self.workdir / "peer.json"
        settings_path.write_text(json.dumps(settings))
        settings_path.chmod(0o600)
        env = {**os.environ, "NODE_ENV": "production"}
        self.process = system.Process(system.pinned(self.core, [node, "server.mjs", str(settings_path)]),
                                      self.workdir / "peer.log", PEER_DIR, env=env)
        system.wait_http(self.base_url + self.health_path, self.process)

    def worker_pids(self) -> list[int]:
        return [self.process.pid] if self.process is not None and self.process.alive() else []

    def argon2_alone(self, seconds: float) -> dict[str, Any]:
        """@node-rs/argon2 verifications per second on the server core, one at a time."""
        node = self.node()
        if node is None:
            return {"per_s": None, "note": "node is missing"}
        code = (
            "const { hash, verify, Algorithm } = require('@node-rs/argon2');\n"
            "const [t, m, p, seconds] = process.argv.slice(1).map(Number);\n"
            "const o = { algorithm: Algorithm.Argon2id, timeCost: t, memoryCost: m, parallelism: p };\n"
            "(async () => {\n"
            "  const digest = await hash('correct horse battery staple', o);\n"
            "  await verify(digest, 'correct horse battery staple');\n"
            "  for (let round = 0; round < ROUNDS; round += 1) {\n"
            "    let count = 0; const start = process.hrtime.bigint(); const cpu = process.cpuUsage();\n"
            "    const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;\n"
            "    while (elapsed() < seconds / ROUNDS && count < 100000) {\n"
            "      await verify(digest, 'correct horse battery staple'); count += 1;\n"
            "    }\n"
            "    const used = process.cpuUsage(cpu);\n"
            "    console.log(count / elapsed(), count / ((used.user + used.system) / 1e6));\n"
            "  }\n"
            "})();\n"
        )
        code = code.replace("ROUNDS", str(ARGON2_ROUNDS))
        command = [node, "-e", code, str(self.argon2.time_cost), str(self.argon2.memory_cost_kib),
                   str(self.argon2.parallelism), str(seconds)]
        return _rate_of(system.pinned(self.core, command), seconds, PEER_DIR)


def _rate_of(command: list[str], seconds: float, cwd: Path) -> dict[str, Any]:
    """Run a command printing, per round, its rate per wall second and per CPU-second; keep the best round."""
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, cwd=cwd, check=False)
    if completed.returncode != 0:
        return {"per_s": None, "note": f"failed: {completed.stderr.strip()[-300:]}"}
    try:
        rounds = [(float(line.split()[0]), float(line.split()[1])) for line in completed.stdout.splitlines()
                  if line.strip()]
    except (ValueError, IndexError):
        return {"per_s": None, "note": f"no figure: {completed.stdout[-300:]}"}
    if not rounds:
        return {"per_s": None, "note": "no figure"}
    best = max(wall for wall, _cpu in rounds)
    per_cpu = max(cpu for _wall, cpu in rounds)
    return {"per_s": round(best, 2), "per_cpu_s": round(per_cpu, 2), "ms_each": round(1000 / best, 1) if best else None,
            "rounds_per_s": [round(wall, 1) for wall, _cpu in rounds], "wall_s": round(time.monotonic() - started, 1)}
