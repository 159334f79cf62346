"""Sign in with GitHub (the App's OAuth web flow) and sign out.

`/login` sends the person to GitHub with a random `state` kept in their (encrypted) session;
`/login/callback` accepts GitHub's answer only with that same state, exchanges the code for the
person's user token and starts a fresh session (so a session planted before sign-in is worth
nothing). Sign-out is a POST with a CSRF token, so a link on another site cannot sign anyone out.
Neither the token nor the code is ever logged.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from litestar import Request, Response, get, post
from litestar.response import Redirect

from bot.db import access
from bot.db.engine import session_scope
from bot.github.client import SignInError
from bot.web import services
from bot.web.pages import page

log = logging.getLogger(__name__)
CALLBACK = "/login/callback"


def callback_url(request: Request) -> str:
    return services(request).settings.public_url + CALLBACK


def safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would make our sign-in a phishing tool."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@get("/login")
async def login(request: Request) -> Response:
    users = services(request).users
    if not users.configured:
        return page(request, "message.html.j2", status_code=503, title="Sign-in is not configured",
                    message="Set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET (the App's OAuth credentials) to enable sign-in.")
    state = secrets.token_urlsafe(32)
    request.set_session({"oauth_state": state, "next": safe_next(request.query_params.get("next"))})
    return Redirect(users.authorize_url(state, callback_url(request)))


@get(CALLBACK)
async def login_callback(request: Request) -> Response:
    session = request.scope.get("session") or {}
    expected, given = session.get("oauth_state"), request.query_params.get("state") or ""
    code = request.query_params.get("code")
    if not expected or not code or not hmac.compare_digest(str(expected), given):
        log.warning("sign-in refused: missing or mismatched OAuth state")
        return page(request, "message.html.j2", status_code=400, title="Sign-in failed",
                    message="This sign-in link has expired or was not started here. Please sign in again.", link="/login")
    svc = services(request)
    try:
        token = await svc.users.exchange_code(code, callback_url(request))
        login_name = await svc.users.login(token)
    except SignInError as refused:
        log.warning("sign-in refused by GitHub: %s", refused)
        return page(request, "message.html.j2", status_code=400, title="Sign-in failed", message=str(refused), link="/login")
    async with session_scope(svc.engine) as db:
        await access.forget(db, login_name)  # what they may see is asked again, with the new token
    request.clear_session()
    request.set_session({"login": login_name, "token": token})
    log.info("%s signed in", login_name)
    return Redirect(safe_next(session.get("next")))


@get("/logout")
async def logout_form(request: Request) -> Response:
    return page(request, "logout.html.j2", title="Sign out")


@post("/logout", status_code=303)
async def logout(request: Request) -> Response:
    session = request.scope.get("session") or {}
    if session.get("login"):
        async with session_scope(services(request).engine) as db:
            await access.forget(db, session["login"])
    request.clear_session()
    return Redirect("/", status_code=303)
