"""The reach dashboard: a server-rendered FastAPI app over the same database as the crawler.

`create_app()` builds it; `reach web` serves it with uvicorn. Pages are in `web.pages`, the JSON
API in `web.api`; this module holds what every request shares: who is signed in, the templates,
the static files and the sign-in pages.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from reach.db import get_engine
from reach.report.charts import charts_js, plotly_js
from reach.report.html import TEMPLATES as REPORT_TEMPLATES
from reach.settings import Settings, get_settings
from reach.users import authenticate
from web import security
from web.data import Reports
from web.rendering import Forbidden, SignInRequired, render, templates

HERE = Path(__file__).resolve().parent
STATIC: dict[str, tuple[Callable[[], str], str]] = {
    "views.css": (lambda: (REPORT_TEMPLATES / "views.css").read_text(encoding="utf-8"), "text/css"),
    "app.css": (lambda: (HERE / "static" / "app.css").read_text(encoding="utf-8"), "text/css"),
    "charts.js": (charts_js, "text/javascript"),
    "plotly.js": (plotly_js, "text/javascript"),
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="ambassador-reach",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.signer = security.Signer(
        security.secret_key(settings), settings.web_session_hours * 3600
    )
    app.state.throttle = security.Throttle()
    app.state.templates = templates()
    app.state.reports = Reports()
    app.middleware("http")(security.headers_middleware)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return render(
            request,
            "error.html.j2",
            403,
            title="Not allowed",
            message=f"This needs the {exc.needed} role; ask an admin (reach users add).",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return render(
            request, "error.html.j2", exc.status_code, title="Not found", message=str(exc.detail)
        )

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise StarletteHTTPException(404, f"no static file {name}")
        read, media = STATIC[name]
        return PlainTextResponse(
            read(), media_type=media, headers={"Cache-Control": "public, max-age=3600"}
        )

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/signin", response_class=HTMLResponse)
    def signin_page(request: Request, next: str = "/") -> Response:
        return render(request, "signin.html.j2", next=_local(next), error=None)

    @app.post("/signin", response_class=HTMLResponse)
    def signin(
        request: Request,
        email: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        if not security.csrf_ok(request, csrf_token):
            return render(
                request,
                "signin.html.j2",
                403,
                next=_local(next),
                error="The form expired; sign in again.",
            )
        throttle: security.Throttle = request.app.state.throttle
        keys = (f"email:{email.strip().lower()}", f"ip:{security.client_address(request)}")
        wait = throttle.blocked(*keys)
        if wait:
            response = render(
                request,
                "signin.html.j2",
                429,
                next=_local(next),
                error=f"Too many failed sign-ins; try again in {wait:.0f} s.",
            )
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        with Session(get_engine(), expire_on_commit=False) as session:
            user = authenticate(session, email, password)
            session.commit()  # a rehashed password
        if user is None or user.id is None:
            throttle.failed(*keys)
            # The same answer for an unknown e-mail and a wrong password.
            return render(
                request,
                "signin.html.j2",
                401,
                next=_local(next),
                error="Wrong e-mail or password.",
            )
        throttle.succeeded(keys[0])
        redirect = RedirectResponse(_local(next), status_code=303)
        security.set_session(request, redirect, request.app.state.signer, user.id)
        return redirect

    @app.post("/signout")
    def signout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
        if not security.csrf_ok(request, csrf_token):
            return PlainTextResponse("missing or wrong CSRF token", status_code=403)
        response = RedirectResponse("/signin", status_code=303)
        security.clear_session(response)
        return response

    from web import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    return app


def _local(target: str) -> str:
    """Only a path of this site is a place to go after signing in (no open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
