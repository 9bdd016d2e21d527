"""What every page shares: its templates (the dashboard's, then the report's shared views), who
is signed in, and the answer for someone who may not see it."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from models import User
from reach.metrics import METRICS
from reach.report.html import TEMPLATES as REPORT_TEMPLATES
from reach.report.html import view_filters
from web import security

HERE = Path(__file__).resolve().parent


class SignInRequired(Exception):
    """A page asked for by nobody signed in: answered with a redirect to the sign-in page."""


class Forbidden(Exception):
    """A signed-in user whose role does not allow this."""

    def __init__(self, needed: str) -> None:
        super().__init__(needed)
        self.needed = needed


def templates() -> Jinja2Templates:
    env = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(HERE / "templates"), FileSystemLoader(REPORT_TEMPLATES)]
        ),
        autoescape=select_autoescape(["html", "j2"], default=True),
    )
    env.filters.update(view_filters())
    env.globals.update(
        post_href=lambda post: f"/posts/{post.id}",
        metrics=list(METRICS.values()),
    )
    return Jinja2Templates(env=env)


def page_user(request: Request, role: str = "viewer") -> User:
    """The signed-in user of a page, or a redirect to sign in; a lesser role gets 403."""
    user = security.current_user(request)
    if user is None:
        raise SignInRequired()
    if not security.allowed(user, role):
        raise Forbidden(role)
    request.state.user = user
    return user


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    app_templates: Jinja2Templates = request.app.state.templates
    context.setdefault("user", getattr(request.state, "user", None))
    context["csrf"] = security.csrf_token(request)
    context["request"] = request
    return app_templates.TemplateResponse(request, name, context, status_code=status_code)
