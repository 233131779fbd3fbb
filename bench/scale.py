"""`python -m bench --scale` (`make bench BENCH_ARGS=--scale`): pages and grants at data scale (issue 17).

Seeds a database of its own with the volumes of a few years of use (200,000 people, 20,000
companies, 300,000 memberships with one company of 5,000 members and people in 20 companies,
1,000,000 audit rows, 500,000 refresh tokens, 200,000 sent emails, 50,000 pending access requests)
with bulk SQL (COPY on PostgreSQL, multi-row INSERTs on SQLite), then times every page and grant
in-process through the Flask test client, counts their SQL statements, times a refresh while four
admins browse the big company's members (four processes), and an import of the 20,000 unchanged
companies. Prints the table against the targets and adds it to the results file (`scale` in
bench/results/latest.json, and scale-DATE.json).

IDP_BENCH_DATABASE_URL (PostgreSQL) names the server: a database `idp_bench_scale_<pid>` is made
beside the one named, and dropped at the end. Without it, a SQLite file in a temporary directory.
IDP_BENCH_SCALE (a fraction, default 1) shrinks every volume, for a smoke run.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import random
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

PASSWORD = "Scale-Bench-9-Horse"  # noqa: S105 - a benchmark's throwaway people
SHOP_SECRET = "shop-secret-0123456789abcdef"  # noqa: S105
SHOP = "https://shop.example.com/callback"
RUNS = 15  # timed calls per page or grant (after one warm-up)
TARGETS = {"page_median_ms": 150.0, "page_max_ms": 400.0, "refresh_under_load_ratio": 2.0, "import_s": 2.0}
SURNAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
            "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier"]
GIVEN = ["Claire", "Hugo", "Marie", "Louis", "Emma", "Jules", "Léa", "Paul", "Chloé", "Nathan"]
EVENTS = ["user.signed_in", "user.sign_in_failed", "user.signed_out", "membership.created", "membership.role_changed",
          "access_request.filed", "user.password_changed", "company.switched", "api_key.used", "invitation.sent"]


def volumes() -> dict[str, int]:
    factor = float(os.environ.get("IDP_BENCH_SCALE", "1"))
    base = {"users": 200_000, "companies": 20_000, "audit": 1_000_000, "refresh_tokens": 500_000,
            "outbox": 200_000, "access_requests": 50_000, "big_company": 5_000, "big_requests": 2_000}
    return {name: max(int(count * factor), 50) for name, count in base.items()}


def log(message: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the database ------------------------------------------------------------------------------


@contextmanager
def own_database(tmp: Path) -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get("IDP_BENCH_DATABASE_URL")
    if not server:
        yield f"sqlite:///{tmp / 'scale.sqlite3'}"
        return
    base = make_url(server)
    name = f"idp_bench_scale_{os.getpid()}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def config_document(database_url: str, tmp: Path) -> dict[str, Any]:
    return {
        "issuer": "http://127.0.0.1:5000", "secret_key": "scale-bench-secret-key-0123456789abcdef",
        "database_url": database_url, "redis_url": os.environ.get("IDP_BENCH_REDIS_URL") or None,
        "store_prefix": f"scale{os.getpid()}:", "instance_path": str(tmp / "instance"),
        "languages": ["fr", "en"], "default_language": "en",
        "mail": {"backend": "file", "from": "Portail <no-reply@example.com>", "worker": False},
        "flows": ["login", "company_join", "company_choice", "tools", "invitation"],
        "clients": [{"client_id": "shop", "name": {"en": "Web shop", "fr": "Boutique"}, "secret": SHOP_SECRET,
                     "redirect_uris": [SHOP], "launch_url": "https://shop.example.com/"}],
        # No throttle of sign-ins in a benchmark that signs the same people in again and again.
        "throttling": {"login_per_ip": "100000 per minute", "login_per_account": "100000 per minute"},
    }


def build_app(database_url: str, tmp: Path) -> Any:
    from idp import create_app
    from idp.config import parse_config

    app = create_app(parse_config(config_document(database_url, tmp)), start_workers=False)
    return app


class Writer:
    """Rows into a table, by COPY on PostgreSQL and executemany on SQLite."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self.connection, self.dialect = connection, dialect

    def write(self, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
        count = 0
        if self.dialect == "postgresql":
            with self.connection.cursor() as cursor, \
                    cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        marks = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608 - our own names
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(self._sqlite(value) for value in row))
            if len(batch) == 5000:
                self.connection.executemany(statement, batch)
                count += len(batch)
                batch = []
        if batch:
            self.connection.executemany(statement, batch)
            count += len(batch)
        return count

    @staticmethod
    def _sqlite(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value


def seed(app: Any, v: dict[str, int]) -> dict[str, Any]:
    """Every volume, with the people the measurements act as; returns who they are."""
    from idp.extensions import db
    from idp.models.companies import hash_member_code

    rng = random.Random(17)
    now = datetime.now(UTC)
    with app.app_context():
        password_hash = app.extensions["idp.hasher"].hash(PASSWORD)
        raw = db.engine.raw_connection()
        dialect = db.engine.dialect.name
        writer = Writer(raw.driver_connection, dialect)
        n_users, n_companies = v["users"], v["companies"]
        operator_id = n_users + 1
        three_years = 3 * 365 * 86400

        def users() -> Iterator[tuple[Any, ...]]:
            for i in range(1, n_users + 2):
                email = "operator@example.com" if i == operator_id else f"user{i}@example{i % 97}.com"
                yield (i, f"pub{i:07d}", email, email, True, f"u{i:07d}", GIVEN[i % len(GIVEN)],
                       SURNAMES[i % len(SURNAMES)] + ("" if i % 3 else f"-{i % 1000}"), password_hash,
                       False, "active", i == operator_id, 0, now, now, "en")

        log(f"users: {writer.write('users', ['id', 'public_id', 'email', 'email_key', 'email_verified', 'username', 'given_name', 'family_name', 'password_hash', 'must_change_password', 'status', 'is_operator', 'session_epoch', 'created_at', 'updated_at', 'locale'], users())}")  # noqa: E501

        def companies() -> Iterator[tuple[Any, ...]]:
            for i in range(1, n_companies + 1):
                yield (i, f"cpub{i:07d}", f"C-{100000 + i}", f"{SURNAMES[i % len(SURNAMES)]} SARL {i}",
                       f"{i} rue de la Paix", "Lyon", "69001", "0400000000", hash_member_code(f"CODE-{i}"), True,
                       None, 0, now, now)

        log(f"companies: {writer.write('companies', ['id', 'public_id', 'external_id', 'name', 'address', 'city', 'postal_code', 'phone', 'member_code_hash', 'active', 'branches', 'lock_version', 'created_at', 'updated_at'], companies())}")  # noqa: E501

        big, small = 1, 2
        many_id, one_id = v["big_company"] + 1, v["big_company"] + 201  # in 20 companies; in 1

        def memberships() -> Iterator[tuple[Any, ...]]:
            number = 0

            def row(user: int, company: int, admin: bool = False) -> tuple[Any, ...]:
                nonlocal number
                number += 1
                return (number, user, company, "order", admin, None, None, "active", now, now)

            for user in range(1, v["big_company"] + 1):  # the big company; user 1 administers it
                yield row(user, big, user == 1)
            for user in range(1, 11):  # a small company of 10, administered by user 1 as well
                yield row(user, small, user == 1)
            for user in range(many_id, many_id + 100):  # 100 people in 20 companies each
                for k in range(20):
                    yield row(user, 3 + (user * 31 + k * 997) % (n_companies - 2))
            for user in range(many_id + 100, n_users + 1):  # everyone else: one or two companies
                first = 3 + (user * 7) % (n_companies - 2)
                yield row(user, first)
                if user % 2 == 0 and user != one_id:
                    yield row(user, 3 + (first + 1 + user % 11) % (n_companies - 2))

        log(f"memberships: {writer.write('memberships', ['id', 'user_id', 'company_id', 'role', 'is_admin', 'branch', 'allowed_ips', 'status', 'created_at', 'updated_at'], memberships())}")  # noqa: E501

        def access_requests() -> Iterator[tuple[Any, ...]]:
            start = many_id + 300
            for k in range(v["access_requests"]):
                user = start + k
                company = big if k < v["big_requests"] else 3 + (user * 13) % (n_companies - 2)
                yield (k + 1, f"req{k:07d}", user, company, "pending", now - timedelta(minutes=k))

        log(f"access requests: {writer.write('access_requests', ['id', 'public_id', 'user_id', 'company_id', 'status', 'created_at'], access_requests())}")  # noqa: E501

        def audit() -> Iterator[tuple[Any, ...]]:
            for k in range(v["audit"]):
                user = rng.randint(1, n_users)
                yield (k + 1, now - timedelta(seconds=three_years * (1 - k / v["audit"])), EVENTS[k % len(EVENTS)],
                       user, user, rng.randint(1, n_companies), "192.0.2.1", "bench", '{"client": "shop"}')

        log(f"audit: {writer.write('audit_events', ['id', 'created_at', 'event', 'user_id', 'actor_id', 'company_id', 'ip', 'user_agent', 'details'], audit())}")  # noqa: E501

        def refresh_tokens() -> Iterator[tuple[Any, ...]]:
            for k in range(v["refresh_tokens"]):
                created = now - timedelta(seconds=three_years * (1 - k / v["refresh_tokens"]))
                yield (k + 1, secrets.token_hex(32), f"fam{k // 3}", "shop", rng.randint(1, n_users),
                       "openid companies offline_access", "{}", created, created + timedelta(days=30))

        log(f"refresh tokens: {writer.write('refresh_tokens', ['id', 'token_hash', 'family_id', 'client_id', 'user_id', 'scope', 'context', 'created_at', 'expires_at'], refresh_tokens())}")  # noqa: E501
        body = "Bonjour,\n\nVoici votre lien : https://idp.example.com/password/reset/" + "x" * 43 + "\n" * 3
        html = "<p>" + body * 2 + "</p>"

        def outbox() -> Iterator[tuple[Any, ...]]:
            for k in range(v["outbox"]):
                sent = now - timedelta(seconds=three_years * (1 - k / v["outbox"]))
                yield (k + 1, "password_reset", f"user{k}@example.com", "Votre mot de passe", body, html,
                       f"<{k}.bench@example.com>", "sent", 1, sent, sent, sent)

        log(f"outbox: {writer.write('outbox', ['id', 'kind', 'recipient', 'subject', 'body_text', 'body_html', 'message_id', 'status', 'attempts', 'next_attempt_at', 'created_at', 'sent_at'], outbox())}")  # noqa: E501
        raw.commit()
        if dialect == "postgresql":
            cursor = raw.driver_connection.cursor()
            for table, column in (("users", "id"), ("companies", "id"), ("memberships", "id"),
                                  ("access_requests", "id"), ("audit_events", "id"), ("refresh_tokens", "id"),
                                  ("outbox", "id")):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "  # noqa: S608
                               f"(SELECT max({column}) FROM {table}))")
            raw.commit()
            raw.driver_connection.autocommit = True
            raw.driver_connection.execute("VACUUM ANALYZE")
            raw.driver_connection.autocommit = False
        else:
            raw.driver_connection.execute("ANALYZE")
            raw.commit()
        raw.close()
    return {"admin": "user1@example1.com", "many": f"user{many_id}@example{many_id % 97}.com",
            "one": f"user{one_id}@example{one_id % 97}.com", "operator": "operator@example.com",
            "big": "cpub0000001", "small": "cpub0000002", "member": "pub0000002",
            "surname": SURNAMES[3], "companies": n_companies}


# --- measuring ----------------------------------------------------------------------------------


class Counter:
    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *args: Any) -> None:
        self.count += 1


def client_for(app: Any, login: str) -> Any:
    from bench.scale_client import signed_in

    return signed_in(app, login, PASSWORD)


def measure(counter: Counter, call: Callable[[], Any], runs: int = RUNS) -> dict[str, Any]:
    call()  # warm-up
    times, statements = [], []
    for _ in range(runs):
        before = counter.count
        started = time.perf_counter()
        response = call()
        times.append((time.perf_counter() - started) * 1000)
        statements.append(counter.count - before)
        status = getattr(response, "status_code", 200)
        if status >= 400:
            raise RuntimeError(f"{status}: {response.get_data(as_text=True)[:300]}")
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
            "statements": max(statements), "bytes": len(response.get_data()) if hasattr(response, "get_data") else 0}


def code_for(client: Any, choose: str | None) -> str:
    """One sign-in of the shop in this browser (already signed in): the code."""
    from bench.scale_client import authorize_code

    return authorize_code(client, choose)


def grants(app: Any, counter: Counter, login: str, choose: str | None) -> dict[str, dict[str, Any]]:
    client = client_for(app, login)
    results: dict[str, dict[str, Any]] = {}
    auth = {"Authorization": "Basic " + __import__("base64").b64encode(f"shop:{SHOP_SECRET}".encode()).decode()}
    codes: list[str] = [code_for(client, choose) for _ in range(RUNS + 1)]
    body: dict[str, Any] = {}

    def exchange() -> Any:
        response = client.post("/token", data={"grant_type": "authorization_code", "code": codes.pop(),
                                               "redirect_uri": SHOP}, headers=auth)
        body.update(response.get_json())
        return response

    results["token (code)"] = measure(counter, exchange)

    def refresh() -> Any:
        response = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                               headers=auth)
        body.update(response.get_json())
        return response

    results["refresh"] = measure(counter, refresh)
    results["userinfo"] = measure(counter, lambda: client.get(
        "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}))
    results["tools"] = measure(counter, lambda: client.get("/tools"))
    if choose is not None:
        from bench.scale_client import picker_path

        path = picker_path(client)
        results["picker"] = measure(counter, lambda: client.get(path))
    return results


def browse(database_url: str, tmp: str, path: str, stop: Any, ready: Any, done: Any) -> None:
    """An admin in another process loading the members pages until told to stop (then a pause to read)."""
    app = build_app(database_url, Path(tmp))
    with app.app_context():
        client = client_for(app, "user1@example1.com")
    ready.set()
    loads = 0
    while not stop.is_set():
        response = client.get(path)
        html = response.get_data(as_text=True)
        loads += 1
        if 'rel="next" href="' in html and loads % 3:
            client.get(html.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&"))
        time.sleep(1.0)  # an admin reads the page before the next (a fast reader)
    done.put(loads)


def refresh_under_load(app: Any, database_url: str, tmp: Path, who: dict[str, Any]) -> dict[str, Any]:
    client = client_for(app, who["one"])
    from bench.scale_client import authorize_code

    auth = {"Authorization": "Basic " + __import__("base64").b64encode(f"shop:{SHOP_SECRET}".encode()).decode()}
    body = client.post("/token", data={"grant_type": "authorization_code", "code": authorize_code(client, None),
                                       "redirect_uri": SHOP}, headers=auth).get_json()

    def refresh() -> float:
        started = time.perf_counter()
        response = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                               headers=auth)
        body.update(response.get_json())
        return (time.perf_counter() - started) * 1000

    def series(n: int) -> list[float]:
        out = []
        for _ in range(n):
            out.append(refresh())
            time.sleep(0.05)
        return out

    series(5)
    idle = series(40)
    context = multiprocessing.get_context("spawn")
    stop, done = context.Event(), context.Queue()
    path = f"/admin/companies/{who['big']}/members"
    readies = [context.Event() for _ in range(4)]
    admins = [context.Process(target=browse, args=(database_url, str(tmp / f"admin{n}"), path, stop, readies[n], done))
              for n in range(4)]
    for process in admins:
        process.start()
    for ready in readies:
        ready.wait(120)
    time.sleep(1.0)
    loaded = series(60)
    stop.set()
    loads = sum(done.get(timeout=60) for _ in admins)
    for process in admins:
        process.join(30)
    return {"idle_median_ms": round(statistics.median(idle), 1), "idle_max_ms": round(max(idle), 1),
            "loaded_median_ms": round(statistics.median(loaded), 1), "loaded_max_ms": round(max(loaded), 1),
            "ratio": round(statistics.median(loaded) / statistics.median(idle), 2), "admin_page_loads": loads}


def import_unchanged(app: Any, tmp: Path, count: int) -> dict[str, Any]:
    from idp.companies.directory import import_companies

    path = tmp / "directory.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "name", "address", "city", "postal_code", "phone", "member_code", "active"])
        for i in range(1, count + 1):
            writer.writerow([f"C-{100000 + i}", f"{SURNAMES[i % len(SURNAMES)]} SARL {i}", f"{i} rue de la Paix",
                             "Lyon", "69001", "0400000000", f"CODE-{i}", "true"])
    with app.app_context():
        started = time.perf_counter()
        summary = import_companies(path, progress=lambda line: None)
        seconds = time.perf_counter() - started
    return {"rows": count, "seconds": round(seconds, 2), "created": summary.created, "updated": summary.updated,
            "unchanged": summary.unchanged}


def pages(app: Any, counter: Counter, who: dict[str, Any]) -> dict[str, dict[str, Any]]:
    admin = client_for(app, who["admin"])
    operator = client_for(app, who["operator"])
    big, small = who["big"], who["small"]
    first = admin.get(f"/admin/companies/{big}/members").get_data(as_text=True)
    after = first.split('rel="next" href="')[1].split('"')[0].replace("&amp;", "&")
    today = datetime.now(UTC).date()
    company_pages = {
        "members (10)": f"/admin/companies/{small}/members",
        "members (5,000)": f"/admin/companies/{big}/members",
        "members, next page": after,
        "members, search": f"/admin/companies/{big}/members?q=dur",
        "members, by role": f"/admin/companies/{big}/members?sort=role",
        "member page": f"/admin/companies/{big}/members/{who['member']}",
        "requests (2,000)": f"/admin/companies/{big}/requests",
        "invitations": f"/admin/companies/{big}/invite",
        "admin index": "/admin/",
    }
    operator_pages = {
        "users, family name": f"/admin/operator/users?q={who['surname']}",
        "users, exact email": "/admin/operator/users?" + urlencode({"q": who["many"]}),
        "users, email start": "/admin/operator/users?q=user1234",
        "companies, search": "/admin/operator/companies?q=dur",
        "companies": "/admin/operator/companies",
        "account requests": "/admin/operator/account-requests",
        "audit log": "/admin/operator/audit",
        "audit, event": "/admin/operator/audit?event=company.switched",
        "audit, person": "/admin/operator/audit?" + urlencode({"person": who["many"]}),
        "audit, company": "/admin/operator/audit?company=C-100002",
        "audit, days": "/admin/operator/audit?" + urlencode({"from": str(today - timedelta(days=400)),
                                                            "to": str(today - timedelta(days=390))}),
    }
    results = {}
    for name, path in company_pages.items():
        results[name] = measure(counter, lambda path=path: admin.get(path))
        log(f"{name}: {results[name]}")
    for name, path in operator_pages.items():
        results[name] = measure(counter, lambda path=path: operator.get(path))
        log(f"{name}: {results[name]}")
    return results


# --- the table ----------------------------------------------------------------------------------


def table(result: dict[str, Any]) -> str:
    lines = ["| what | median ms | max ms | SQL statements | target | met |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for name, row in result["pages"].items():
        met = row["median_ms"] <= TARGETS["page_median_ms"] and row["max_ms"] <= TARGETS["page_max_ms"]
        lines.append(f"| page: {name} | {row['median_ms']} | {row['max_ms']} | {row['statements']} | "
                     f"≤ 150 / ≤ 400 ms | {'yes' if met else 'NO'} |")
    for who, rows in result["grants"].items():
        for name, row in rows.items():
            met = row["median_ms"] <= TARGETS["page_median_ms"] and row["max_ms"] <= TARGETS["page_max_ms"]
            lines.append(f"| {name}, person in {who} | {row['median_ms']} | {row['max_ms']} | {row['statements']} | "
                         f"≤ 150 / ≤ 400 ms | {'yes' if met else 'NO'} |")
    for name, check in result["bounded"].items():
        lines.append(f"| statements, {name} | | | {check['small']} vs {check['large']} | the same | "
                     f"{'yes' if check['small'] == check['large'] else 'NO'} |")
    load = result["refresh_under_load"]
    lines.append(f"| refresh, idle | {load['idle_median_ms']} | {load['idle_max_ms']} | | | |")
    lines.append(f"| refresh, four admins browsing members | {load['loaded_median_ms']} | {load['loaded_max_ms']} | | "
                 f"≤ 2× idle ({load['ratio']}×) | {'yes' if load['ratio'] <= TARGETS['refresh_under_load_ratio'] else 'NO'} |")  # noqa: E501
    imported = result["import"]
    lines.append(f"| companies import, {imported['rows']:,} unchanged rows | {imported['seconds'] * 1000:.0f} | | | "
                 f"≤ 2 s | {'yes' if imported['seconds'] <= TARGETS['import_s'] else 'NO'} |")
    bodies = result["drop_sent_bodies"]
    lines.append(f"| outbox: bodies of {bodies['emptied']:,} sent emails emptied | "
                 f"{bodies['seconds'] * 1000:.0f} | | | | |")
    return "\n".join(lines)


def all_met(result: dict[str, Any]) -> bool:
    return "| NO |" not in table(result)


def run(output: Path) -> int:
    from idp.extensions import db
    from idp.models.migrate import upgrade

    v = volumes()
    with tempfile.TemporaryDirectory(prefix="idp-scale-") as tmp_name, own_database(Path(tmp_name)) as url:
        tmp = Path(tmp_name)
        app = build_app(url, tmp)
        app.config["TESTING"] = True
        with app.app_context():
            upgrade()
        started = time.perf_counter()
        log(f"seeding {url.split('@')[-1]}: {v}")
        who = seed(app, v)
        seeded = time.perf_counter() - started
        log(f"seeded in {seeded:.0f} s")
        with app.app_context():
            counter = Counter(db.engine)
        result: dict[str, Any] = {"date": datetime.now(UTC).replace(microsecond=0).isoformat(),
                                  "backend": db_name(url), "volumes": v, "seed_seconds": round(seeded, 1),
                                  "runs_per_measure": RUNS, "targets": TARGETS}
        result["pages"] = pages(app, counter, who)
        result["grants"] = {"1 company": grants(app, counter, who["one"], None),
                            "20 companies": grants(app, counter, who["many"], "SARL")}
        log(f"grants: {result['grants']}")
        pages_ = result["pages"]
        result["bounded"] = {
            "members page, 10 vs 5,000 members": {"small": pages_["members (10)"]["statements"],
                                                  "large": pages_["members (5,000)"]["statements"]},
            **{f"{grant}, 1 vs 20 companies": {"small": result["grants"]["1 company"][grant]["statements"],
                                               "large": result["grants"]["20 companies"][grant]["statements"]}
               for grant in ("token (code)", "refresh", "userinfo", "tools")},
        }
        result["refresh_under_load"] = refresh_under_load(app, url, tmp, who)
        log(f"refresh under load: {result['refresh_under_load']}")
        result["import"] = import_unchanged(app, tmp, who["companies"])
        log(f"import: {result['import']}")
        with app.app_context():
            from idp import mail

            app.config["IDP"].mail.keep_sent_days  # noqa: B018 - the setting the call reads
            started = time.perf_counter()
            emptied = mail.drop_sent_bodies(datetime.now(UTC))
            result["drop_sent_bodies"] = {"emptied": emptied, "seconds": round(time.perf_counter() - started, 2)}
            db.session.remove()
            db.engine.dispose()
    text = table(result)
    print(text)
    save(result, text, output)
    return 0 if all_met(result) else 1


def db_name(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def save(result: dict[str, Any], text: str, output: Path) -> None:
    """Into the results file the benchmark writes (latest.json, key `scale`), and scale-DATE.json/.md."""
    from bench.run import save_mode

    save_mode("scale", result, text, output)


def parse_code(location: str) -> str:
    return parse_qs(urlsplit(location).query)["code"][0]
