"""The API tests' fixtures: users with permissions, tokens, and `call`, which makes a request and validates
the answer against the OpenAPI document the server itself serves (openapi-core)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.test import Client
from openapi_core import OpenAPI
from openapi_core.contrib.django import DjangoOpenAPIRequest, DjangoOpenAPIResponse

from api.tokens import token_create

READ_PERMISSIONS = ("shots.view_shot", "ingest.view_render", "frameio.view_reviewnote")


def grant(user: User, *perms: str) -> User:
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)  # a fresh instance: no cached permissions


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()  # the rate limit counts in the cache, keyed by token id (ids repeat across tests)
    yield
    cache.clear()


@pytest.fixture
def editor(db) -> User:
    """Staff, may read everything and move shots (not force them)."""
    user = User.objects.create_user("ana", password="x", is_staff=True)
    return grant(user, *READ_PERMISSIONS, "shots.change_shot")


@pytest.fixture
def make_token() -> Callable[..., str]:
    def make(user: User, **options) -> str:
        return token_create(username=user.username, **options).secret

    return make


@pytest.fixture
def token(editor, make_token) -> str:
    return make_token(editor, name="tests")


@pytest.fixture
def openapi(client) -> OpenAPI:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return OpenAPI.from_dict(response.json())


@pytest.fixture
def call(openapi) -> Callable:
    """call(method, path, token=..., body=..., raw=..., validate_request=True) -> the response, its answer
    validated against the served document (status, content type, JSON schema), its request too unless a
    test sends a bad one on purpose."""
    client = Client()

    def request(
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: object = None,
        raw: str | None = None,
        validate_request: bool = True,
        headers: dict | None = None,
    ):
        extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        extra |= headers or {}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        send = getattr(client, method.lower())
        response = send(path, data=data, content_type="application/json", **extra) if data else send(path, **extra)
        openapi_request = DjangoOpenAPIRequest(response.wsgi_request)
        if validate_request:
            openapi.validate_request(openapi_request)
        openapi.validate_response(openapi_request, DjangoOpenAPIResponse(response))
        return response

    return request
