"""Researcher accounts: `kb user`, logging in and out, sessions, CSRF and the login guard."""

from __future__ import annotations

import multiprocessing
import sqlite3
import stat
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner
from conftest import CHEAP_HASH
from conftest import PASSWORD
from conftest import RESEARCHER
from conftest import both_backends
from conftest import csrf_token
from conftest import log_in
from werkzeug.security import generate_password_hash

from kb.errors import AccountError
from kb.factory import open_store
from kb.settings import Settings
from kb.users import Attempt
from kb.users import LoginThrottle
from kb.users import Users
from kb_cli.main import cli
from web import create_app
from web.auth import COOKIELESS_ENDPOINTS

pytestmark = both_backends

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# The only route that takes a POST without a login: the login form (its CSRF token is checked).
PUBLIC_POSTS = {"auth.login"}
# Values for the URL rules' variables, so that every route can be requested.
URL_VALUES = {"document_id": "report-a", "job_id": "0000", "myth_id": "x", "passage_id": 1}


# -- kb user ----------------------------------------------------------------------------------


@pytest.fixture
def kb_user(tmp_path):
    data = tmp_path / "data"

    def run(*args: str, input: str | None = None):
        return CliRunner().invoke(cli, ["--data-dir", str(data), "user", *args], input=input)

    run.db = data / "kb.sqlite3"
    return run


def test_user_add_with_password_stdin_list_and_remove(kb_user):
    added = kb_user("add", "ada", "--password-stdin", input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert "ada" in kb_user("list").output
    removed = kb_user("remove", "ada")
    assert removed.exit_code == 0 and "Removed" in removed.output
    assert "No accounts yet" in kb_user("list").output


def test_user_add_prompts_twice_without_echo(kb_user):
    done = kb_user("add", "ada", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert done.exit_code == 0, done.output
    assert PASSWORD not in done.output  # hidden input
    assert "Repeat the password" in done.output
    mismatch = kb_user("add", "bob", input=f"{PASSWORD}\nsomething else\n")
    assert mismatch.exit_code != 0 and "do not match" in mismatch.output
    assert "bob" not in kb_user("list").output


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("add", "ada", "--password-stdin"), "short\n", "at least 10 characters"),
        (("add", "../ada", "--password-stdin"), PASSWORD + "\n", "must be 1 to 64 letters"),
        (("remove", "nobody"), None, "There is no account named 'nobody'"),
    ],
)
def test_user_errors_are_one_sentence(kb_user, args, stdin, message):
    result = kb_user(*args, input=stdin)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_user_add_twice_is_refused_case_insensitively(kb_user):
    assert kb_user("add", "ada", "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    again = kb_user("add", "ADA", "--password-stdin", input=PASSWORD + "\n")
    assert again.exit_code == 1 and "already an account" in again.output


def test_passwords_are_stored_as_salted_scrypt_hashes(kb_user):
    for name in ("ada", "bob"):
        kb_user("add", name, "--password-stdin", input=PASSWORD + "\n")
    hashes = [
        row[0] for row in sqlite3.connect(kb_user.db).execute("SELECT password_hash FROM users")
    ]
    assert len(hashes) == 2 and hashes[0] != hashes[1]  # same password, different salts
    assert all(h.startswith("scrypt:") and PASSWORD not in h for h in hashes)


def test_authenticate(store):
    users = Users(store, hash_method="pbkdf2:sha256:1000")
    users.add("ada", PASSWORD)
    assert users.authenticate("ada", PASSWORD).name == "ada"
    assert users.authenticate("ADA", PASSWORD).name == "ada"
    assert users.authenticate("ada", PASSWORD + "x") is None
    assert users.authenticate("nobody", PASSWORD) is None
    assert users.authenticate("../x", PASSWORD) is None
    with pytest.raises(AccountError):
        users.add("eve", "x" * 2000)


# -- logging in and out -----------------------------------------------------------------------


def test_login_sets_a_secure_session_and_logout_ends_it(client, researcher):
    page = client.get("/login")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    response = log_in(client)
    assert response.status_code == 303 and response.headers["Location"] == "/admin"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    admin = client.get("/admin")
    assert admin.status_code == 200 and "Manage documents" in admin.get_data(as_text=True)
    assert admin.headers["Cache-Control"] == "no-store"

    out = client.post("/logout", data={"csrf_token": csrf_token(client, "/admin")})
    assert out.status_code == 303 and "reason=logged_out" in out.headers["Location"]
    assert "You have logged out." in client.get(out.headers["Location"]).get_data(as_text=True)
    assert client.get("/admin").status_code == 303
    assert client.get("/logout").status_code == 405


def test_session_cookie_is_secure_outside_testing(kb, settings):
    app = create_app({"SETTINGS": settings, "WARM_UP": False}, kb=kb)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login")
    assert "Secure" in response.headers["Set-Cookie"]
    insecure = create_app({"SETTINGS": settings, "SESSION_COOKIE_SECURE": "0"}, kb=kb)
    assert insecure.config["SESSION_COOKIE_SECURE"] is False


def test_login_goes_back_to_the_page_asked_for_but_never_off_site(client, researcher):
    wanted = client.get("/admin/audit")
    assert wanted.status_code == 303
    assert wanted.headers["Location"] == "/login?reason=required&next=/admin/audit"
    token = csrf_token(client, wanted.headers["Location"])
    data = {"name": RESEARCHER, "password": PASSWORD, "csrf_token": token}
    back = client.post("/login", data={**data, "next": "/admin/audit"})
    assert back.headers["Location"] == "/admin/audit"
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client.post("/logout", data={"csrf_token": csrf_token(client, "/admin")})
        data["csrf_token"] = csrf_token(client)
        response = client.post("/login", data={**data, "next": evil})
        assert response.headers["Location"] == "/admin", evil


def test_login_starts_a_new_session(client, researcher):
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    log_in(client)
    with client.session_transaction() as session:
        assert "planted" not in session and session["user"] == RESEARCHER


@pytest.mark.parametrize(
    ("name", "password", "status", "message"),
    [
        (RESEARCHER, "wrong password!", 401, "That account name and password do not match."),
        ("nobody", PASSWORD, 401, "That account name and password do not match."),
        ("", "", 400, "Enter your account name and your password."),
    ],
)
def test_failed_logins_say_so_without_telling_which_part(
    client, researcher, name, password, status, message
):
    response = log_in(client, name, password)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert client.get("/admin").status_code == 303


def test_reading_and_searching_need_no_login(client):
    for path in ("/", "/?q=savings", "/library", "/documents/report-a", "/api/search?q=savings"):
        assert client.get(path).status_code == 200, path


# -- sessions ---------------------------------------------------------------------------------


def expire_session(client, app) -> None:
    """Make the client's login end now, on the server (where the end is decided)."""
    with client.session_transaction() as session:
        token = session["sid"]
    app.extensions["sessions"].expire(token, time.time() - 1)


def test_an_expired_session_says_so_and_asks_for_a_login(logged_in, app):
    expire_session(logged_in, app)
    page = logged_in.get("/admin/upload")
    assert page.status_code == 303
    assert page.headers["Location"].startswith("/login?reason=expired")
    text = logged_in.get(page.headers["Location"]).get_data(as_text=True)
    assert "Your session has expired; log in again." in text


def test_an_expired_session_gets_401_json_from_the_job_endpoint(logged_in, app):
    expire_session(logged_in, app)
    response = logged_in.get("/admin/jobs/0000")
    assert response.status_code == 401
    assert response.get_json() == {
        "error": "Your session has expired; log in again.",
        "status": 401,
    }


def test_an_expired_session_posting_a_form_stores_nothing(logged_in, kb, app):
    token = csrf_token(logged_in, "/admin/documents/report-a/remove")
    expire_session(logged_in, app)
    response = logged_in.post(
        "/admin/documents/report-a/remove", data={"csrf_token": token, "confirm": "yes"}
    )
    assert response.status_code == 303 and "reason=expired" in response.headers["Location"]
    assert kb.store.get_document("report-a")


def test_a_removed_account_is_logged_out(logged_in, app):
    Users(app.extensions["kb"].store).remove(RESEARCHER)
    response = logged_in.get("/admin")
    assert response.status_code == 303 and "reason=removed" in response.headers["Location"]


def _saved_cookie(client) -> str:
    return client.get_cookie("session").value


def _with_cookie(app, cookie: str):
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_a_cookie_saved_before_logout_opens_nothing(logged_in, app):
    """Finding 3: the cookie used to stay valid after logout, for its 8 hours."""
    saved = _saved_cookie(logged_in)
    out = logged_in.post("/logout", data={"csrf_token": csrf_token(logged_in, "/admin")})
    assert out.status_code == 303
    replayed = _with_cookie(app, saved).get("/admin")
    assert replayed.status_code == 303 and "reason=expired" in replayed.headers["Location"]


def test_a_cookie_saved_before_logout_opens_nothing_after_a_restart(logged_in, app, settings):
    saved = _saved_cookie(logged_in)
    logged_in.post("/logout", data={"csrf_token": csrf_token(logged_in, "/admin")})
    restarted = create_app({"TESTING": True, "SETTINGS": settings}, kb=app.extensions["kb"])
    assert _with_cookie(restarted, saved).get("/admin").status_code == 303


def test_a_login_survives_a_restart_until_logout(logged_in, app, settings):
    saved = _saved_cookie(logged_in)
    restarted = create_app({"TESTING": True, "SETTINGS": settings}, kb=app.extensions["kb"])
    assert _with_cookie(restarted, saved).get("/admin").status_code == 200


def test_a_re_created_account_does_not_revive_old_cookies(logged_in, app):
    """Finding 4: removing an account and adding one with the same name used to let the old
    account's saved cookies in."""
    saved = _saved_cookie(logged_in)
    users = Users(app.extensions["kb"].store, hash_method=CHEAP_HASH)
    old_id = users.get(RESEARCHER).id
    users.remove(RESEARCHER)
    users.add(RESEARCHER, PASSWORD)
    assert users.get(RESEARCHER).id != old_id
    replayed = _with_cookie(app, saved).get("/admin")
    assert replayed.status_code == 303 and "/login" in replayed.headers["Location"]
    store = app.extensions["kb"].store
    assert store.connection().execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


def test_account_numbers_are_never_reused(store):
    users = Users(store, hash_method=CHEAP_HASH)
    first = users.add("ada", PASSWORD)
    second = users.add("bob", PASSWORD)
    users.remove("bob")  # the highest number: SQLite would hand it out again without AUTOINCREMENT
    assert users.add("bob", PASSWORD).id > second.id > first.id


def test_the_cookie_holds_a_token_the_database_keeps_only_hashed(logged_in, app):
    with logged_in.session_transaction() as session:
        token = session["sid"]
    rows = app.extensions["kb"].store.connection().execute("SELECT token_hash FROM sessions")
    stored = [row[0] for row in rows]
    assert len(stored) == 1 and token not in stored and len(token) >= 40


def test_the_menu_offers_log_out_only_for_a_live_login(logged_in, app):
    assert "Log out" in logged_in.get("/about").get_data(as_text=True)
    saved = _saved_cookie(logged_in)
    logged_in.post("/logout", data={"csrf_token": csrf_token(logged_in, "/admin")})
    page = _with_cookie(app, saved).get("/about").get_data(as_text=True)
    assert "Log out" not in page and "Researchers: log in" in page


def test_no_login_redirects_pages_and_gives_json_401(client):
    page = client.get("/admin")
    assert page.status_code == 303 and page.headers["Location"].startswith("/login")
    api = client.get("/admin/jobs/0000")
    assert api.status_code == 401
    assert api.get_json() == {"error": "Log in to add and manage documents.", "status": 401}


# -- the secret key ---------------------------------------------------------------------------


def test_secret_key_is_made_once_private_and_shared_by_processes(kb, settings):
    first = create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)
    second = create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)
    path = settings.data_dir / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == path.read_text().strip()
    given = create_app({"TESTING": True, "SETTINGS": settings, "SECRET_KEY": "k" * 40}, kb=kb)
    assert given.config["SECRET_KEY"] == "k" * 40


def test_secret_key_from_the_environment(kb, settings, monkeypatch):
    monkeypatch.setenv("KB_SECRET_KEY", "e" * 40)
    settings = Settings.load(data_dir=settings.data_dir, embedder="hashing")
    app = create_app({"TESTING": True, "SETTINGS": settings}, kb=kb)
    assert app.config["SECRET_KEY"] == "e" * 40


# -- the login rate limit ---------------------------------------------------------------------


def _fail(client, name=RESEARCHER, address="192.0.2.1"):
    client.environ_base["REMOTE_ADDR"] = address
    return log_in(client, name, "wrong password!")


def test_five_failures_from_an_address_then_429_for_that_account(client, researcher):
    for _ in range(5):
        assert _fail(client).status_code == 401
    refused = log_in(client)  # the right password, from the address that failed
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    text = refused.get_data(as_text=True)
    assert "Too many failed logins from your address or for this account" in text
    assert "try again in 15 minutes" in text


def test_strangers_cannot_lock_the_owner_out(client, researcher):
    """Finding 5: five failures from five addresses used to refuse the right password from a
    sixth for 15 minutes. An address that has not failed is still let through."""
    for attempt in range(5):
        assert _fail(client, address=f"192.0.2.{attempt}").status_code == 401
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"  # the owner, at another address
    assert log_in(client).status_code == 303


def test_an_address_that_failed_for_an_attacked_account_waits(client, researcher):
    """The per-account limit still holds for every address that has guessed: past the limit,
    each new address gets one guess for the account."""
    for attempt in range(5):
        assert _fail(client, address=f"192.0.2.{attempt}").status_code == 401
    assert _fail(client, address="192.0.2.77").status_code == 401  # a fresh address: one guess
    for address in ("192.0.2.0", "192.0.2.77"):
        client.environ_base["REMOTE_ADDR"] = address
        assert log_in(client).status_code == 429, address


def test_five_failures_from_an_address_then_429_for_any_account(client, researcher):
    for number in range(5):
        assert _fail(client, name=f"guess{number}").status_code == 401
    assert log_in(client).status_code == 429
    client.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert log_in(client).status_code == 303  # the account itself was not attacked


def test_throttle_window_slides_and_a_login_clears_the_account(store):
    now = [1000.0]
    throttle = LoginThrottle(store, limit=2, period=60, clock=lambda: now[0])
    assert isinstance(throttle.attempt("a", "ada"), Attempt)
    now[0] += 30
    assert isinstance(throttle.attempt("a", "ada"), Attempt)
    assert throttle.attempt("a", "ada") == pytest.approx(30)
    now[0] += 31
    assert isinstance(throttle.attempt("a", "ada"), Attempt)
    good = throttle.attempt("b", "ADA")
    assert isinstance(good, Attempt)
    throttle.succeeded(good)  # the account and b's reservation are forgotten; a's are not
    assert isinstance(throttle.attempt("c", "ada"), Attempt)
    assert throttle.attempt("a", "other") == pytest.approx(29)


def _attempts_in_threads(store, throttle_args, workers: int) -> int:
    """How many of `workers` simultaneous wrong-password attempts got their password checked."""
    throttle = LoginThrottle(store, *throttle_args)
    checked = []
    barrier = threading.Barrier(workers, timeout=120)

    def one_login(_):
        barrier.wait()
        attempt = throttle.attempt("203.0.113.9", "ada")
        if isinstance(attempt, Attempt):
            checked.append(1)
            time.sleep(0.05)  # the password check: long enough for the others to overlap

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one_login, range(workers)))
    return len(checked)


def test_simultaneous_attempts_check_at_most_the_limit_in_threads(store):
    """Finding 1: the limit was read, then the failure recorded; 20 at once got 11 checked."""
    assert _attempts_in_threads(store, (5, 900), workers=20) == 5


def _attempts_in_a_process(settings, workers: int) -> int:
    store = open_store(settings)
    try:
        return _attempts_in_threads(store, (5, 900), workers)
    finally:
        store.close()


def test_simultaneous_attempts_check_at_most_the_limit_across_processes(store, settings):
    LoginThrottle(store, 5, 900)  # the tables exist before the processes race
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        counts = list(pool.map(_attempts_in_a_process, [settings] * 4, [6] * 4))
    assert sum(counts) == 5, counts


def test_simultaneous_wrong_logins_check_at_most_the_limit(app, researcher):
    """Through the login page: 20 wrong passwords at once from one address; 5 are checked
    (401), the rest refused (429)."""
    slow_hash = "pbkdf2:sha256:200000"  # ~0.1 s a check, so the requests overlap
    store = app.extensions["kb"].store
    store.connection().execute(
        "UPDATE users SET password_hash = ? WHERE name = ?",
        (generate_password_hash(PASSWORD, method=slow_hash), RESEARCHER),
    )
    barrier = threading.Barrier(20, timeout=120)

    def one_login(_):
        client = app.test_client()
        token = csrf_token(client)
        barrier.wait()
        data = {"name": RESEARCHER, "password": "wrong password!", "csrf_token": token}
        return client.post("/login", data=data).status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(one_login, range(20)))
    assert statuses.count(401) == 5 and statuses.count(429) == 15, statuses


def test_the_limit_is_shared_by_two_apps_over_one_database(kb, settings, researcher, client):
    other = create_app({"TESTING": True, "SETTINGS": settings}, kb=kb).test_client()
    for _ in range(3):
        _fail(client)
    for _ in range(2):
        _fail(other)
    client.environ_base["REMOTE_ADDR"] = "192.0.2.1"
    assert log_in(client).status_code == 429


# -- CSRF and the guard on every route that changes something ---------------------------------


@pytest.mark.parametrize(
    ("token", "reason"),
    [(None, "was missing"), ("forged-token", "was not valid")],
)
def test_missing_or_forged_csrf_token_is_400_with_a_clear_message(logged_in, kb, token, reason):
    logged_in.get("/admin/documents/report-a/remove")  # the form, and the session's token
    data = {"confirm": "yes", **({"csrf_token": token} if token else {})}
    response = logged_in.post("/admin/documents/report-a/remove", data=data)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert f"The form could not be accepted because its security token {reason}" in text
    assert kb.store.get_document("report-a")  # nothing removed


def test_login_form_needs_its_csrf_token_too(client, researcher):
    response = client.post("/login", data={"name": RESEARCHER, "password": PASSWORD})
    assert response.status_code == 400 and "security token was missing" in response.text


def _unsafe_routes(app) -> list[tuple[str, str, str]]:
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) & UNSAFE):
            values = {name: URL_VALUES.get(name, "x") for name in rule.arguments}
            found.append(
                (rule.endpoint, method, adapter.build(rule.endpoint, values, method=method))
            )
    return found


def test_every_route_that_changes_something_needs_a_login_and_a_csrf_token(app, researcher):
    routes = _unsafe_routes(app)
    endpoints = {endpoint for endpoint, _, _ in routes}
    # The ones this issue added; a new route is checked below without being listed here.
    assert {"admin.upload", "admin.edit", "admin.replace_file", "admin.remove"} <= endpoints
    assert {"auth.login", "auth.logout"} <= endpoints
    for endpoint, method, url in routes:
        if endpoint in COOKIELESS_ENDPOINTS:
            continue  # no cookie, nothing stored: tests/test_packs_api.py holds them to that
        anonymous = app.test_client()
        token = csrf_token(anonymous)
        response = anonymous.open(url, method=method, data={"csrf_token": token})
        if endpoint not in PUBLIC_POSTS:
            assert response.status_code in (303, 401), (endpoint, method, response.status_code)
            if response.status_code == 303:
                assert response.headers["Location"].startswith("/login"), endpoint

        member = app.test_client()
        assert log_in(member).status_code == 303
        for data in ({}, {"csrf_token": "forged"}):
            refused = member.open(url, method=method, data=data)
            assert refused.status_code == 400, (endpoint, method, data, refused.status_code)
            assert "security token" in refused.get_data(as_text=True), endpoint


def test_admin_pages_all_need_a_login(app):
    client = app.test_client()
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and "GET" in (rule.methods or ()):
            values = {name: URL_VALUES.get(name, "x") for name in rule.arguments}
            response = client.get(adapter.build(rule.endpoint, values))
            assert response.status_code in (303, 401), rule.endpoint


def test_an_account_name_taken_in_another_case_is_refused_in_one_sentence(store):
    from kb.errors import AccountError
    from kb.users import Users

    users = Users(store, hash_method="pbkdf2:sha256:1")
    first = users.add("ada", "correct horse battery")
    with pytest.raises(AccountError, match="already an account named 'ADA'"):
        users.add("ADA", "another long password")
    assert users.list_users() == [first]
    assert users.get("Ada") == first
