"""Staff pages: connect Frame.io (Adobe IMS OAuth), the callback, choose the project, disconnect.

Staff see the connection; changing it needs the permission of `CONNECTION_PERMISSIONS`, the one
table that both draws the buttons and refuses the request (403) to those without it.

Every failure renders `frameio/error.html` with what happened and what to do, and writes nothing:
the connection row changes only in `auth.connection_*`, after every check has passed.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from frameio import auth
from frameio.client import FrameioError
from frameio.forms import ProjectChoiceForm
from frameio.models import REFRESH_TOKEN_LIFETIME, FrameioConnection, FrameioConnectionEvent

logger = logging.getLogger(__name__)

SESSION_KEY = "frameio_oauth_pending"

# What each control of the connection needs (the OAuth callback is part of "connect"). The templates
# draw a control only for a user who has its permission, and its view refuses everyone else with 403.
# Superusers have every permission. Grant it in the admin: Users → the user → User permissions.
CONNECTION_PERMISSIONS = {
    "connect": FrameioConnection.MANAGE_PERMISSION,
    "choose": FrameioConnection.MANAGE_PERMISSION,
    "disconnect": FrameioConnection.MANAGE_PERMISSION,
}
HISTORY_LIMIT = 5  # audit rows shown on the connection page

# What a person sees for each IMS failure during the code exchange: (title, explanation).
EXCHANGE_ERRORS = {
    "invalid_grant": (
        "The sign-in code expired or was already used",
        "Adobe IMS refused the authorization code: codes are valid for a few minutes and only once. "
        "Start the connection again.",
    ),
    "redirect_uri_mismatch": (
        "The redirect URI does not match the credential",
        "Adobe IMS refused the redirect URI. Set FRAMEIO_REDIRECT_URI to a URI allowed by the "
        "credential's redirect URI pattern in the Adobe Developer Console, then start again.",
    ),
    "invalid_client": (
        "Adobe IMS refused the client credentials",
        "Check FRAMEIO_CLIENT_ID and FRAMEIO_CLIENT_SECRET against the Adobe Developer Console.",
    ),
    "server_error": (
        "Adobe IMS is not answering properly",
        "Adobe IMS returned a server error. Nothing was changed; try again in a few minutes.",
    ),
    "network": (
        "Adobe IMS could not be reached",
        "The token request did not get an answer. Nothing was changed; check the network and try again.",
    ),
}


def _error(request: HttpRequest, title: str, message: str, *, status: int = 400) -> HttpResponse:
    logger.warning("Frame.io connect: %s (%s)", title, message)
    return _render(request, "frameio/error.html", {"title": title, "message": message}, status=status)


def _render(request: HttpRequest, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    context = {**admin.site.each_context(request), "controls": _controls(request), **context}
    return render(request, template, context, status=status)


def _controls(request: HttpRequest) -> dict[str, bool]:
    """Which controls the pages draw for this user."""
    return {control: request.user.has_perm(permission) for control, permission in CONNECTION_PERMISSIONS.items()}


def _refused(request: HttpRequest, control: str) -> HttpResponse | None:
    """The 403 page naming the permission `control` needs, or None when the user has it."""
    permission = CONNECTION_PERMISSIONS[control]
    if request.user.has_perm(permission):
        return None
    logger.warning("Frame.io %s refused to %s: no %s permission", control, request.user.get_username(), permission)
    label = dict(FrameioConnection._meta.permissions).get(permission.partition(".")[2], permission)
    return _error(
        request,
        "You may not change the Frame.io connection",
        f"This needs the {permission} permission, which you do not have; nothing was changed. An administrator "
        f"can grant it in the admin: Users → your user → User permissions → “{label}”.",
        status=403,
    )


def _actor(request: HttpRequest) -> str:
    return f"user:{request.user.get_username()}"


def _redirect_uri(request: HttpRequest) -> str:
    return settings.FRAMEIO_REDIRECT_URI or request.build_absolute_uri(reverse("frameio:callback"))


def _same_endpoint(a: str, b: str) -> bool:
    """Host, port and path equal (the scheme may differ behind a TLS-terminating proxy)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname, pa.port or 0, pa.path.rstrip("/")) == (pb.hostname, pb.port or 0, pb.path.rstrip("/"))


@never_cache
@staff_member_required
@require_http_methods(["GET", "POST"])
def connect(request: HttpRequest) -> HttpResponse:
    """GET: the connection page. POST: start connecting (redirect to IMS, or fetch an S2S token)."""
    if request.method == "GET":
        return _render(request, "frameio/connect.html", _status_context(request))
    if refused := _refused(request, "connect"):
        return refused
    if settings.FRAMEIO_AUTH == "s2s":
        try:
            conn = auth.connect_server_to_server(actor=_actor(request))
        except FrameioError as exc:
            return _error(request, "Server-to-Server connection failed", f"{exc}. Nothing was changed.", status=502)
        return _after_connect(request, conn)
    url, pending = auth.begin_authorization(redirect_uri=_redirect_uri(request))
    request.session[SESSION_KEY] = pending.as_session()
    return redirect(url)


@never_cache
@staff_member_required
@sensitive_variables()
def callback(request: HttpRequest) -> HttpResponse:
    """IMS sends the browser back here with ?code&state (or ?error)."""
    # One use: whatever happens next, a second visit of this URL finds no pending sign-in.
    pending = auth.PendingAuthorization.from_session(request.session.pop(SESSION_KEY, None))
    # The state binds the answer to this session, not to a permission: checked here too, before IMS.
    if refused := _refused(request, "connect"):
        return refused
    if pending is None:
        return _error(
            request,
            "No Frame.io sign-in is in progress",
            "This callback was already used, or the sign-in started in another browser or session. "
            "Start the connection again from the Frame.io page.",
        )
    if not constant_time_compare(request.GET.get("state", ""), pending.state):
        return _error(
            request,
            "The sign-in state does not match",
            "The answer from Adobe IMS does not belong to the sign-in this session started (it may have been "
            "tampered with). Nothing was changed; start the connection again.",
        )
    if pending.expired():
        return _error(request, "The sign-in took too long", "Start the connection again and finish within 10 minutes.")
    error = request.GET.get("error")
    if error == "access_denied":
        return _error(
            request,
            "Access was declined",
            "Frame.io access was not granted at Adobe, so nothing was changed. Start again to connect.",
            status=403,
        )
    if error:
        description = request.GET.get("error_description", "")
        return _error(request, "Adobe IMS returned an error", f"{error}: {description}".strip(": "))
    code = request.GET.get("code", "")
    if not code:
        return _error(request, "No authorization code", "Adobe IMS came back without a code. Start again.")
    if not _same_endpoint(request.build_absolute_uri(request.path), pending.redirect_uri):
        return _error(
            request,
            "The callback URL does not match the redirect URI",
            f"The sign-in asked Adobe IMS to come back to {pending.redirect_uri}, but it came back to "
            f"{request.build_absolute_uri(request.path)}. Set FRAMEIO_REDIRECT_URI to this site's callback URL "
            "(and allow it in the Adobe Developer Console), then start again.",
        )
    try:
        conn = auth.connect_oauth(code=code, pending=pending, actor=_actor(request))
    except auth.FrameioAuthError as exc:
        title, message = EXCHANGE_ERRORS.get(exc.kind, ("Adobe IMS refused the sign-in", str(exc.detail)))
        return _error(request, title, f"{message} ({exc.kind})", status=502 if not exc.permanent else 400)
    except FrameioError as exc:
        return _error(
            request,
            "Frame.io did not answer as expected",
            f"Signed in at Adobe, but {exc}. Nothing was saved; fix the cause and start again.",
            status=502,
        )
    return _after_connect(request, conn)


def _after_connect(request: HttpRequest, conn) -> HttpResponse:
    messages.success(request, f"Frame.io connected as {conn.connected_as or 'the service account'}.")
    if not auth.effective_target(conn).complete:
        return redirect("frameio:choose")
    return redirect("frameio:connect")


@never_cache
@staff_member_required
@require_http_methods(["GET", "POST"])
def choose(request: HttpRequest) -> HttpResponse:
    """Pick the account, then the workspace, then the project (or create one)."""
    if refused := _refused(request, "choose"):
        return refused
    conn = auth.connection_get()
    if conn is None or not conn.has_tokens:
        messages.error(request, "Connect Frame.io first.")
        return redirect("frameio:connect")
    client = auth.build_client(retry=auth.INTERACTIVE_RETRY)
    current = auth.effective_target(conn)
    try:
        if request.method == "POST":
            form = ProjectChoiceForm(request.POST, client=client, current=current)
        else:
            form = ProjectChoiceForm(client=client, current=current, selection=request.GET)
        if request.method == "POST" and form.is_valid():
            target = form.save_target()
            auth.connection_set_target(target=target, actor=_actor(request))
            messages.success(request, f"postflow now works in Frame.io project “{target.project_name}”.")
            return redirect("frameio:connect")
    except FrameioError as exc:
        return _error(request, "Frame.io did not answer", f"{exc}. Nothing was changed.", status=502)
    return _render(request, "frameio/choose.html", {"form": form, "target": current, "title": "Choose project"})


@never_cache
@staff_member_required
@require_POST
def disconnect(request: HttpRequest) -> HttpResponse:
    if refused := _refused(request, "disconnect"):
        return refused
    problem = auth.connection_disconnect(actor=_actor(request))
    if problem:
        messages.warning(
            request,
            f"Frame.io disconnected: the stored tokens were deleted, but not revoked ({problem}). The access "
            "token lapses within a day; remove postflow's access in the Adobe account settings to end it now.",
        )
    else:
        messages.success(request, "Frame.io disconnected: the tokens were revoked at Adobe IMS and deleted.")
    return redirect("frameio:connect")


def _status_context(request: HttpRequest) -> dict:
    conn = auth.connection_get()
    now = timezone.now()
    return {
        "conn": conn,
        "target": auth.effective_target(conn),
        "mode": settings.FRAMEIO_AUTH,
        "sandbox": settings.FRAMEIO_SANDBOX,
        "api_url": settings.FRAMEIO_API_URL,
        "ims_url": settings.FRAMEIO_IMS_URL,
        "client_id": settings.FRAMEIO_CLIENT_ID,
        "redirect_uri": _redirect_uri(request),
        "expires_in": conn.expires_in(now) if conn else None,
        "refresh_age": conn.refresh_token_age(now) if conn else None,
        "refresh_lifetime": REFRESH_TOKEN_LIFETIME,
        "refresh_expires_in": conn.refresh_token_expires_in(now) if conn else None,
        "permission": FrameioConnection.MANAGE_PERMISSION,
        "history": FrameioConnectionEvent.objects.all()[:HISTORY_LIMIT],
        "env_ids": {
            "FRAMEIO_ACCOUNT_ID": settings.FRAMEIO_ACCOUNT_ID,
            "FRAMEIO_WORKSPACE_ID": settings.FRAMEIO_WORKSPACE_ID,
            "FRAMEIO_DEFAULT_PROJECT_ID": settings.FRAMEIO_DEFAULT_PROJECT_ID,
        },
    }
