"""Who may see and do what: sign-in, roles, CSRF, tokens, throttling, headers (both backends)."""

import io

from fastapi.testclient import TestClient
from sqlmodel import Session

from reach.users import revoke_tokens
from tests.web.conftest import MARCH, PASSWORD, USERS, csrf_of, sign_in, token_for

PAGES = ["/", "/ambassadors", "/ambassadors/ngozi-eze", "/health", "/linkedin", "/export/csv"]


def test_without_a_session_pages_redirect_to_sign_in_and_the_api_answers_401(
    seeded: Session, client: TestClient
) -> None:
    for path in PAGES:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/signin?next=")
    for path in ("/api/report", "/api/report?since=2026-03-01&until=2026-03-31"):
        answer = client.get(path)
        assert answer.status_code == 401 and "Bearer" in answer.headers["www-authenticate"]
    assert client.post("/api/linkedin", files={"file": ("x.xlsx", b"x")}).status_code == 401
    health = client.get("/api/health")
    assert health.status_code == 200 and health.json()["database"] == "ok"


def test_sign_in_sets_a_safe_cookie_and_goes_where_it_was_asked(
    seeded: Session, client: TestClient
) -> None:
    first = client.get("/ambassadors?range=7d", follow_redirects=False)
    target = first.headers["location"]
    page = client.get(target)
    answer = client.post(
        "/signin",
        data={
            "email": USERS["viewer"].upper(),  # e-mails are matched case-blind
            "password": PASSWORD,
            "next": "/ambassadors?range=7d",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/ambassadors?range=7d"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=43200" in cookie
    assert "secure" not in cookie  # plain http; behind https the cookie is Secure
    assert client.get("/", params=MARCH).status_code == 200


def test_an_open_redirect_after_sign_in_is_refused(seeded: Session, client: TestClient) -> None:
    page = client.get("/signin")
    answer = client.post(
        "/signin",
        data={
            "email": USERS["viewer"],
            "password": PASSWORD,
            "next": "//evil.example/",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/"


def test_a_wrong_email_and_a_wrong_password_get_the_same_answer(
    seeded: Session, client: TestClient
) -> None:
    def attempt(email: str, password: str) -> tuple[int, str]:
        page = client.get("/signin")
        answer = client.post(
            "/signin",
            data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        )
        error = answer.text.split('id="signin-error">')[1].split("<")[0]
        return answer.status_code, error

    assert attempt("nobody@example.org", "whatever-it-is") == attempt(
        USERS["viewer"], "whatever-it-is"
    )
    assert attempt(USERS["viewer"], "wrong password")[0] == 401


def test_the_sixth_wrong_password_in_a_minute_is_throttled_even_if_right(
    seeded: Session, client: TestClient
) -> None:
    for _ in range(5):
        assert sign_in(client, "editor", "wrong password").status_code == 401
    throttled = sign_in(client, "editor", PASSWORD)
    assert throttled.status_code == 429 and "Too many failed sign-ins" in throttled.text
    assert int(throttled.headers["retry-after"]) > 0
    # Another account from the same address is throttled too (per address)...
    assert sign_in(client, "viewer", PASSWORD).status_code == 429


def test_a_form_post_without_its_csrf_token_is_refused(seeded: Session, client: TestClient) -> None:
    no_token = client.post(
        "/signin", data={"email": USERS["viewer"], "password": PASSWORD}, follow_redirects=False
    )
    assert no_token.status_code == 403
    assert "reach_session" not in no_token.headers.get("set-cookie", "")
    assert sign_in(client, "editor").status_code == 303
    upload = client.post(
        "/linkedin", data={"ambassador": ""}, files={"file": ("a.xlsx", io.BytesIO(b"x"))}
    )
    assert upload.status_code == 403 and "CSRF" in upload.text
    assert client.post("/signout", data={}).status_code == 403
    assert client.post("/signout", data={"csrf_token": "forged"}).status_code == 403


def test_a_viewer_cannot_upload(seeded: Session, client: TestClient) -> None:
    sign_in(client, "viewer")
    page = client.get("/linkedin")
    assert page.status_code == 403 and "editor role" in page.text
    csrf = client.cookies.get("reach_csrf")
    answer = client.post(
        "/linkedin",
        data={"csrf_token": csrf or ""},
        files={"file": ("a.xlsx", io.BytesIO(b"x"))},
    )
    assert answer.status_code == 403


def test_tokens_work_for_the_api_until_revoked(seeded: Session, client: TestClient) -> None:
    token = token_for(seeded, "viewer")
    auth = {"Authorization": f"Bearer {token}"}
    answer = client.get(
        "/api/report", params={"since": "2026-03-01", "until": "2026-03-31"}, headers=auth
    )
    assert answer.status_code == 200
    upload = client.post(
        "/api/linkedin", headers=auth, files={"file": ("a.xlsx", io.BytesIO(b"x"))}
    )
    assert upload.status_code == 403  # a viewer's token reads, it does not upload
    assert revoke_tokens(seeded, USERS["viewer"]) == 1
    seeded.commit()
    assert client.get("/api/report", headers=auth).status_code == 401
    assert (
        client.get("/api/report", headers={"Authorization": "Bearer reach_forged"}).status_code
        == 401
    )


def test_every_answer_carries_the_security_headers(seeded: Session, client: TestClient) -> None:
    sign_in(client)
    for path in ("/signin", "/", "/api/health", "/static/charts.js", "/nowhere"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
