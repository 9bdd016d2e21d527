"""The read-only JSON API for BI tools (and the LinkedIn upload for editors).

`/api/report` answers with the rows and metric definitions of `reach report --format json`;
`/api/health` needs no sign-in (for load balancers and monitors) and says whether the database
answers and how the last crawls went.
"""

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlmodel import Session

from reach import dashboard as views
from reach.dashboard import BadPeriod
from reach.db import get_engine
from reach.metrics import GROUPINGS
from reach.report import render_json
from reach.settings import get_settings
from web import security
from web.data import Reports, today
from web.uploads import UploadTooLarge, import_upload

router = APIRouter(prefix="/api")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _user_or_error(request: Request, role: str = "viewer") -> JSONResponse | None:
    user = security.current_user(request)
    if user is None:
        return JSONResponse(
            security.json_unauthorized(), status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    if not security.allowed(user, role):
        return _error(403, f"this needs the {role} role")
    return None


@router.get("/report")
def report(
    request: Request,
    since: str | None = None,
    until: str | None = None,
    by: str = "ambassador",
    range: str | None = None,
    month: str | None = None,
) -> Response:
    if refused := _user_or_error(request):
        return refused
    if by not in GROUPINGS:
        return _error(400, f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    settings = get_settings()
    try:
        choice = views.choose_period(
            today(settings.timezone), settings.timezone, range, since, until, month
        )
    except BadPeriod as exc:
        return _error(400, str(exc))
    reports: Reports = request.app.state.reports
    built = reports.get(choice.period, by)
    return Response(render_json(built), media_type="application/json")


@router.get("/health")
def health() -> Response:
    """Unauthenticated: the database answers, and the latest run of each platform."""
    try:
        with Session(get_engine()) as session:
            session.execute(text("SELECT 1"))
            state = views.crawl_health(session, dt.datetime.now(dt.UTC))
    except Exception as exc:  # noqa: BLE001 - the answer says what is wrong
        return JSONResponse(
            {"status": "error", "database": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"},
            status_code=503,
        )
    latest: dict[str, Any] = {}
    for run in state.runs:
        if run.platform not in latest:
            latest[run.platform] = {
                "status": run.status,
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            }
    return Response(
        json.dumps(
            {
                "status": "ok",
                "database": "ok",
                "latest_runs": latest,
                "failing_accounts": len(state.failing),
                "stale_accounts": len(state.stale),
            }
        ),
        media_type="application/json",
    )


@router.post("/linkedin")
def linkedin(
    request: Request,
    file: Annotated[UploadFile, File()],
    ambassador: Annotated[str, Form()] = "",
) -> Response:
    if refused := _user_or_error(request, "editor"):
        return refused
    # A browser's cookie is not enough to post here: its form token must come too.
    if not getattr(request.state, "by_token", False) and not security.csrf_ok(
        request, request.headers.get(security.CSRF_HEADER)
    ):
        return _error(403, "missing or wrong CSRF token (send X-CSRF-Token, or use a bearer token)")
    try:
        outcome = import_upload(file, ambassador or None)
    except UploadTooLarge as exc:
        return _error(413, str(exc))
    if not outcome.ok:
        return _error(422, outcome.message)
    result = outcome.result
    return JSONResponse(
        {
            "ok": True,
            "message": outcome.message,
            "crawl_run_id": result.crawl_run_id if result else None,
        }
    )
