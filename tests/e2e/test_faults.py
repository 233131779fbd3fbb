"""Faults under a live node, each with its answer during the fault, its recovery without a restart,
and a count of what was lost or doubled (rows in SQL, emails at the SMTP server).

The node runs on a PostgreSQL, a Redis and an SMTP server of the test's own, so that each can be
stopped (the machine's shared services are never touched); they are shared by the module's tests.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import psycopg
import pytest
import requests

from tests.e2e.cluster_support import (
    OwnPostgres,
    RedisProcess,
    csrf,
    kill_group,
    node_config,
    sign_in,
    start_node,
    wait_until,
)
from tests.factories import PASSWORD
from tests.smtp import LINK_RE, SmtpSink

pytestmark = pytest.mark.e2e

COMPANY = "C-70001"


class Stack:
    def __init__(self, directory):
        self.directory = directory
        self.node = self.smtp = self.redis = None
        self.postgres = OwnPostgres()
        try:
            self._start(directory)
        except BaseException:
            self.close()
            raise

    def _start(self, directory):
        self.postgres.start()
        self.redis = RedisProcess(directory)
        self.redis.start()
        self.smtp = SmtpSink()
        self.smtp.start()
        companies = directory / "companies.csv"
        companies.write_text(f"id,name,address,city,postal_code,phone,member_code,active\n"
                             f"{COMPANY},Fautes SA,1 rue,Lyon,69001,+33 4 00 00 00 00,CODE-1,true\n")
        self.config = node_config(
            directory, database_url=self.postgres.url, redis_url=f"redis://127.0.0.1:{self.redis.port}/0",
            issuer="http://127.0.0.1:5000", flows=["login", "forgot_password", "invitation"],
            companies={"directory": str(companies)},
            mail={"backend": "smtp", "from": "Portail <no-reply@example.com>", "worker": True,
                  "retry_base_seconds": 1, "smtp": {"host": "127.0.0.1", "port": self.smtp.port, "starttls": False,
                                                    "timeout": 2}})
        self.node = start_node(self.config, directory, workers=2)
        assert self.node.idp("companies", "import").returncode == 0

    def sql(self, query, *args):
        with psycopg.connect(f"host=127.0.0.1 port={self.postgres.port} user=postgres dbname=postgres",
                             autocommit=True) as connection:
            return connection.execute(query, args).fetchall()

    def close(self):
        for part in (self.node, self.smtp, self.redis):
            if part is not None:
                part.stop()
        self.postgres.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    created = Stack(tmp_path_factory.mktemp("faults"))
    yield created
    created.close()


def create_user(stack, email, *extra):
    result = stack.node.idp("users", "create", "--email", email, *extra, **(
        {"input": PASSWORD + "\n"} if "--password-stdin" in extra else {}))
    assert result.returncode == 0, result.stderr


def test_postgresql_restart_answers_503_then_recovers(stack):
    create_user(stack, "pg@example.com", "--password-stdin")
    browser = requests.Session()
    assert sign_in(browser, stack.node.url, "pg@example.com", PASSWORD).status_code == 302
    users_before = stack.sql("select count(*) from users")[0][0]

    stack.postgres.stop()
    try:
        home = browser.get(stack.node.url + "/", allow_redirects=False, timeout=10)
        assert home.status_code == 503 and home.headers["Retry-After"] == "5"
        assert "temporarily unavailable" in home.text
        ready = requests.get(stack.node.url + "/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["checks"]["database"] == "unavailable"
        assert requests.get(stack.node.url + "/healthz", timeout=10).status_code == 200
        token = requests.post(stack.node.url + "/token", data={"grant_type": "client_credentials"}, timeout=10)
        assert token.status_code in (401, 503)  # no client configured: refused before the database, or 503
        other = requests.Session()
        attempt = sign_in(other, stack.node.url, "pg@example.com", PASSWORD)
        assert attempt.status_code == 503
    finally:
        stack.postgres.start()

    wait_until(lambda: requests.get(stack.node.url + "/readyz", timeout=10).status_code == 200, 20, "ready again")
    # Every pooled connection of both workers was dropped by the restart: pre-ping replaces them.
    for _ in range(6):
        home = browser.get(stack.node.url + "/", allow_redirects=False, timeout=10)
        assert home.status_code == 200 and "pg@example.com" in home.text
    assert sign_in(requests.Session(), stack.node.url, "pg@example.com", PASSWORD).status_code == 302
    assert stack.sql("select count(*) from users")[0][0] == users_before


def test_smtp_outage_delays_mail_and_loses_or_doubles_none(stack):
    stack.smtp.stop()
    already = len(stack.smtp.messages)
    addresses = [f"mail{number}@example.com" for number in range(3)]
    try:
        for address in addresses:
            create_user(stack, address, "--send-password-link")

        def failed_once():
            rows = stack.sql("select attempts, last_error from outbox where recipient like 'mail%%' and status = "
                             "'queued'")
            return len(rows) == 3 and all(attempts >= 1 and error for attempts, error in rows)

        wait_until(failed_once, 20, "each email tried and failed")
        metrics = requests.get(stack.node.url + "/metrics", timeout=10).text
        assert "idp_outbox_depth 3.0" in metrics
        age = float(next(line.split()[1] for line in metrics.splitlines()
                         if line.startswith("idp_outbox_oldest_age_seconds ")))
        assert age > 0
    finally:
        stack.smtp.start()  # the same port: the server is back

    stack.smtp.wait_for(already + 3, timeout=30)
    time.sleep(2)  # a double would come within the next retry
    received = [str(message["To"]) for message in stack.smtp.messages[already:]]
    assert sorted(received) == addresses
    assert stack.sql("select count(*) from outbox where recipient like 'mail%%' and status = 'sent'")[0][0] == 3


def invite(stack, email):
    before = len(stack.smtp.messages)
    result = stack.node.idp("invite", "--company", COMPANY, "--role", "order", email)
    assert result.returncode == 0, result.stderr
    stack.smtp.wait_for(before + 1, timeout=20)
    message = next(m for m in stack.smtp.messages[before:] if email in str(m["To"]))
    return next(link for link in LINK_RE.findall(SmtpSink.text(message)) if "/invitations/" in link)


def accept_form(link, port):
    link = link.replace("http://127.0.0.1:5000", f"http://127.0.0.1:{port}")
    browser = requests.Session()
    page = browser.get(link, timeout=10)
    assert page.status_code == 200
    data = {"csrf_token": csrf(page.text), "given_name": "Inès", "family_name": "Faure", "password": PASSWORD,
            "password_confirm": PASSWORD}
    return browser, link, data


class MembershipsLocked:
    """Holds memberships locked from another connection: a request that makes one waits, inside its
    transaction, until released."""

    def __init__(self, stack):
        self.connection = psycopg.connect(f"host=127.0.0.1 port={stack.postgres.port} user=postgres dbname=postgres")
        self.connection.execute("lock table memberships in access exclusive mode")
        self.stack = stack

    def wait_for_waiter(self):
        wait_until(lambda: self.stack.sql("select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                                          "and pid <> pg_backend_pid()")[0][0] >= 1, 20, "a request waiting")

    def release(self):
        self.connection.rollback()
        self.connection.close()


def test_a_worker_killed_mid_acceptance_leaves_no_half_made_account(stack):
    link = invite(stack, "killed@example.com")
    browser, link, data = accept_form(link, stack.node.port)
    lock = MembershipsLocked(stack)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(_post(browser, link, data)))
    thread.start()
    try:
        lock.wait_for_waiter()  # the account row is written in the transaction, the membership waits
        kill_group(stack.node)  # SIGKILL to the server and its workers
    finally:
        lock.release()
    thread.join(15)
    assert answers == ["connection lost"]
    assert stack.sql("select count(*) from users where email = 'killed@example.com'")[0][0] == 0
    assert stack.sql("select count(*) from invitations where email = 'killed@example.com' "
                     "and accepted_at is null")[0][0] == 1

    stack.node.start()  # the person tries again: one account, one membership
    browser, link, data = accept_form(link, stack.node.port)
    assert browser.post(link, data=data, allow_redirects=False, timeout=15).status_code == 302
    assert stack.sql("select count(*) from users u join memberships m on m.user_id = u.id "
                     "where u.email = 'killed@example.com'")[0][0] == 1


def test_a_worker_killed_mid_approval_leaves_no_half_made_membership(stack):
    company = stack.sql("select id, public_id from companies where external_id = %s", COMPANY)[0]
    for email in ("approver@example.com", "asker@example.com"):
        result = stack.node.idp("users", "create", "--email", email, "--password-stdin", input=PASSWORD + "\n")
        assert result.returncode == 0, result.stderr
    approver = stack.sql("select id from users where email = 'approver@example.com'")[0][0]
    asker = stack.sql("select id from users where email = 'asker@example.com'")[0][0]
    stack.sql("insert into memberships (user_id, company_id, role, is_admin, status, created_at, updated_at) "
              "values (%s, %s, 'order', true, 'active', now(), now()) returning id", approver, company[0])
    request_id = stack.sql("insert into access_requests (public_id, user_id, company_id, status, created_at) "
                           "values ('killed-approval', %s, %s, 'pending', now()) returning public_id",
                           asker, company[0])[0][0]
    admin = requests.Session()
    assert sign_in(admin, stack.node.url, "approver@example.com", PASSWORD).status_code == 302
    page = f"{stack.node.url}/admin/companies/{company[1]}/requests/{request_id}"
    approve = page + "/approve"
    data = {"csrf_token": csrf(admin.get(page, timeout=10).text), "role": "order", "branch": ""}
    lock = MembershipsLocked(stack)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(_post(admin, approve, data)))
    thread.start()
    try:
        lock.wait_for_waiter()  # the request is marked approved in the transaction, the membership waits
        kill_group(stack.node)
    finally:
        lock.release()
    thread.join(15)
    assert answers == ["connection lost"]
    assert stack.sql("select status, decided_at from access_requests where public_id = %s", request_id) == [
        ("pending", None)]
    assert stack.sql("select count(*) from memberships where user_id = %s", asker)[0][0] == 0

    stack.node.start()  # the admin approves again: one membership, the request decided once
    assert admin.post(approve, data=data, allow_redirects=False, timeout=15).status_code == 302
    assert stack.sql("select count(*) from memberships where user_id = %s and status = 'active'", asker)[0][0] == 1
    assert stack.sql("select status from access_requests where public_id = %s", request_id) == [("approved",)]


def _post(browser, link, data):
    try:
        return browser.post(link, data=data, allow_redirects=False, timeout=15).status_code
    except requests.ConnectionError:
        return "connection lost"


def test_sigterm_drains_a_request_in_flight(stack):
    link = invite(stack, "drained@example.com")
    browser, link, data = accept_form(link, stack.node.port)
    lock = MembershipsLocked(stack)
    answers = []
    thread = threading.Thread(target=lambda: answers.append(_post(browser, link, data)))
    thread.start()
    try:
        lock.wait_for_waiter()
        os.kill(stack.node.process.pid, signal.SIGTERM)  # what a service manager sends
        time.sleep(1)
        assert stack.node.process.poll() is None  # still finishing the request
    finally:
        lock.release()
    thread.join(15)
    assert answers == [302]
    stack.node.process.wait(15)
    stack.node.process = None
    assert stack.sql("select count(*) from users u join memberships m on m.user_id = u.id "
                     "where u.email = 'drained@example.com'")[0][0] == 1
    stack.node.start()


def test_redis_outage_fails_closed_then_recovers(stack):
    create_user(stack, "redis@example.com", "--password-stdin")
    stack.redis.kill()
    try:
        home = requests.get(stack.node.url + "/login", timeout=10)
        assert home.status_code == 503 and home.headers["Retry-After"] == "5"
        assert requests.get(stack.node.url + "/readyz", timeout=10).json()["checks"]["store"] == "unavailable"
        # Sign-in throttles live in Redis: without it no password is even checked.
        attempt = requests.post(stack.node.url + "/login", data={"login": "redis@example.com", "password": PASSWORD},
                                allow_redirects=False, timeout=10)
        assert attempt.status_code == 503
        assert "idp_store_errors_total" in requests.get(stack.node.url + "/metrics", timeout=10).text
    finally:
        stack.redis.start()
    wait_until(lambda: requests.get(stack.node.url + "/readyz", timeout=10).status_code == 200, 20, "ready again")
    assert sign_in(requests.Session(), stack.node.url, "redis@example.com", PASSWORD).status_code == 302
