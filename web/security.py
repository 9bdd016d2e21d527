"""Who is asking and what they may do: signed session cookies, API tokens, CSRF, sign-in
throttling and the security headers of every answer."""

import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from models import User
from reach.db import get_engine
from reach.settings import Settings
from reach.users import role_allows, user_for_token

SESSION_COOKIE = "reach_session"
CSRF_COOKIE = "reach_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Plotly sets styles from script (allowed by 'unsafe-inline' styles); no script runs inline.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def secret_key(settings: Settings) -> str:
    """REACH_WEB_SECRET, else a random key made once and kept (0600) under var_dir."""
    configured = settings.web_secret.get_secret_value()
    if configured:
        return configured
    path = Path(settings.var_dir) / "web-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="utf-8") as out:  # two servers starting: one wins
                path.chmod(0o600)
                out.write(secrets.token_urlsafe(48))
        except FileExistsError:
            pass
    return path.read_text(encoding="utf-8").strip()


@dataclass
class Signer:
    """Session cookies: the user's id, signed and dated; older than the session length is void."""

    key: str
    max_age: float

    def __post_init__(self) -> None:
        self._serializer = URLSafeTimedSerializer(self.key, salt="reach-session")

    def dumps(self, user_id: int) -> str:
        return self._serializer.dumps({"uid": user_id})

    def loads(self, value: str) -> int | None:
        try:
            data = self._serializer.loads(value, max_age=int(self.max_age))
        except BadSignature:  # also SignatureExpired
            return None
        uid = data.get("uid") if isinstance(data, dict) else None
        return uid if isinstance(uid, int) else None


def set_session(request: Request, response: Response, signer: Signer, user_id: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        signer.dumps(user_id),
        max_age=int(signer.max_age),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def current_user(request: Request) -> User | None:
    """The user of a bearer token or of the session cookie (None: nobody signed in)."""
    signer: Signer = request.app.state.signer
    header = request.headers.get("authorization", "")
    with Session(get_engine(), expire_on_commit=False) as session:
        if header.lower().startswith("bearer "):
            user = user_for_token(session, header[7:].strip())
            session.commit()  # its last_used_at
            request.state.by_token = True
            return user
        uid = signer.loads(request.cookies.get(SESSION_COOKIE, ""))
        return session.get(User, uid) if uid is not None else None


def allowed(user: User | None, role: str) -> bool:
    return user is not None and role_allows(user.role, role)


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (a random cookie value each form repeats)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def csrf_ok(request: Request, submitted: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    return bool(expected and submitted and secrets.compare_digest(expected, submitted))


async def headers_middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Security headers on every answer, and the CSRF cookie for a browser that has none."""
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.url.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    new = getattr(request.state, "new_csrf", None)
    if new and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            new,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


class Throttle:
    """Sign-in failures per e-mail and per address: the sixth within the window is refused.

    Kept in the server's memory: one `reach web` process serves the dashboard (run one per
    database, or behind one proxy); a restart forgets the failures.
    """

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, *keys: str) -> float:
        """Seconds to wait before another try (0: go ahead)."""
        now = time.monotonic()
        with self._lock:
            waits = [
                self.window - (now - times[0])
                for key in keys
                if len(times := self._recent(key, now)) >= self.limit
            ]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, email_key: str) -> None:
        with self._lock:
            self._failures.pop(email_key, None)


def client_address(request: Request) -> str:
    """The caller's address (the proxy's X-Forwarded-For only when the proxy is trusted: uvicorn
    rewrites request.client from it for REACH_WEB_TRUSTED_PROXIES alone)."""
    return request.client.host if request.client else "unknown"


def json_unauthorized() -> dict[str, Any]:
    return {"error": "sign in or send Authorization: Bearer <token> (reach users token EMAIL)"}
