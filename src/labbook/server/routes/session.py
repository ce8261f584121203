"""Password login for the dashboard: a session cookie (HttpOnly, SameSite=Lax)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response

from labbook.errors import AuthenticationError
from labbook.server.auth import SESSION_COOKIE, LoginLimiter, Principal
from labbook.server.deps import SettingsDep, StoreDep
from labbook.server.routes.viewer import viewer_of
from labbook.server.schemas import LoginIn, ViewerOut

router = APIRouter(tags=["identity"])


@router.post("/session", response_model=ViewerOut)
def login(
    body: LoginIn, request: Request, response: Response, store: StoreDep, settings: SettingsDep
) -> ViewerOut:
    limiter: LoginLimiter = request.app.state.login_limiter
    client = request.client.host if request.client else "?"
    limiter.check(body.username, client)
    user = store.check_password(body.username, body.password)
    if user is None:
        limiter.failed(body.username, client)
        raise AuthenticationError("wrong username or password")
    limiter.succeeded(body.username, client)
    lifetime = dt.timedelta(days=settings.session_days)
    token = store.create_session(user.name, lifetime)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return viewer_of(store, Principal(user, "session"))


@router.delete("/session", status_code=204)
def logout(request: Request, store: StoreDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        store.delete_session(token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
