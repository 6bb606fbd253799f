"""frameio.client against `responses`: retries, Retry-After, 401 re-auth, pagination, pacing, redaction."""

import json
import logging
import math
import threading
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError

from frameio.client import (
    ACCOUNTS,
    FrameioClient,
    FrameioError,
    RetryPolicy,
    UploadUrl,
    redact,
    redact_url,
)

API = "https://api.frame.test"
A = "acc-1"
TOKEN = "tok-SECRET-access-123"


class FakeTime:
    """An injectable clock: sleep() advances it and records every wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time():
    return FakeTime()


def make_client(fake_time: FakeTime, **kwargs) -> FrameioClient:
    options = {
        "base_url": API,
        "token_provider": lambda: TOKEN,
        "sleep": fake_time.sleep,
        "clock": fake_time.clock,
        "wall_clock": lambda: 1_700_000_000.0,
        "rng": lambda: 1.0,  # the top of the jitter range, so waits are exact
        "retry": RetryPolicy(max_attempts=4, base=0.5, cap=3.0),
    }
    options.update(kwargs)
    return FrameioClient(**options)


def envelope(data, status=200, **headers):
    return {"json": {"data": data}, "status": status, "headers": headers}


ME = {"id": "u1", "name": "Ada", "email": "ada@example.com", "avatar_url": None}


# --- basics -----------------------------------------------------------------------------------------


def test_me_sends_bearer_and_a_default_timeout(rsps, fake_time):
    rsps.get(f"{API}/v4/me", **envelope(ME))
    me = make_client(fake_time, timeout=12).me()
    assert (me.id, me.name, me.email) == ("u1", "Ada", "ada@example.com")
    call = rsps.calls[0]
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.request.req_kwargs["timeout"] == (10.0, 12)


def test_ids_are_quoted_into_the_path(rsps, fake_time):
    rsps.get(f"{API}/v4/accounts/a%2Fb/projects/p%3F1", **envelope({"id": "p?1", "root_folder_id": "r"}))
    project = make_client(fake_time).show_project(account_id="a/b", project_id="p?1")
    assert project.root_folder_id == "r"


# --- retries ----------------------------------------------------------------------------------------


def test_5xx_is_retried_with_full_jitter_backoff(rsps, fake_time):
    url = f"{API}/v4/accounts/{A}/files/f1"
    rsps.get(url, status=503, json={"errors": [{"detail": "busy"}]})
    rsps.get(url, status=502, body="<html>bad gateway</html>")
    rsps.get(url, status=500)
    rsps.get(url, **envelope({"id": "f1", "type": "file", "status": "uploaded"}))
    file = make_client(fake_time).show_file(account_id=A, file_id="f1")
    assert file.status == "uploaded"
    # rng() = 1.0: the top of random(0, min(cap, base * 2**n)) = 0.5, 1.0, 2.0
    assert fake_time.sleeps == [0.5, 1.0, 2.0]


def test_jitter_stays_within_the_full_jitter_range():
    policy = RetryPolicy(base=0.5, cap=3.0)
    for attempt in range(8):
        top = min(3.0, 0.5 * 2**attempt)
        for r in (0.0, 0.25, 0.999):
            assert 0 <= policy.backoff(attempt, lambda r=r: r) <= top
    assert policy.backoff(6, lambda: 1.0) == 3.0  # capped


def test_gives_up_after_max_attempts_with_a_non_permanent_error(rsps, fake_time):
    url = f"{API}/v4/me"
    for _ in range(4):
        rsps.get(url, status=503, json={"errors": [{"detail": "try later"}]})
    with pytest.raises(FrameioError) as exc:
        make_client(fake_time).me()
    assert (exc.value.status, exc.value.permanent, exc.value.endpoint) == (503, False, "users.show")
    assert exc.value.detail == "try later"
    assert len(fake_time.sleeps) == 3


def test_retry_after_seconds_is_honoured(rsps, fake_time):
    rsps.get(f"{API}/v4/me", status=429, headers={"Retry-After": "7"}, json={"errors": [{"detail": "slow down"}]})
    rsps.get(f"{API}/v4/me", **envelope(ME))
    make_client(fake_time, pacing=False).me()
    assert fake_time.sleeps == [7.0]


def test_retry_after_http_date_is_honoured(rsps, fake_time):
    when = datetime.fromtimestamp(1_700_000_000 + 4, UTC)
    rsps.get(f"{API}/v4/me", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    rsps.get(f"{API}/v4/me", **envelope(ME))
    make_client(fake_time).me()
    assert fake_time.sleeps == [4.0]


def test_a_retry_after_beyond_the_limit_is_not_waited_for(rsps, fake_time):
    rsps.get(f"{API}/v4/me", status=429, headers={"Retry-After": "3600"})
    with pytest.raises(FrameioError) as exc:
        make_client(fake_time, pacing=False).me()
    assert (exc.value.status, exc.value.permanent) == (429, False)
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_client_errors_are_permanent_and_never_retried(rsps, fake_time, status):
    rsps.get(f"{API}/v4/me", status=status, json={"errors": [{"title": "Nope", "detail": f"d{status}"}]})
    with pytest.raises(FrameioError) as exc:
        make_client(fake_time).me()
    assert (exc.value.status, exc.value.permanent, exc.value.detail) == (status, True, f"d{status}")
    assert fake_time.sleeps == []


def test_unknown_field_422_names_the_field(rsps, fake_time):
    rsps.post(
        f"{API}/v4/accounts/{A}/folders/root/folders",
        status=422,
        json={"errors": [{"detail": "Unexpected field: colour", "source": {"pointer": "/data/colour"}, "title": "x"}]},
    )
    with pytest.raises(FrameioError) as exc:
        make_client(fake_time).create_folder(account_id=A, parent_id="root", name="Dailies")
    assert exc.value.detail == "Unexpected field: colour (/data/colour)"
    assert str(exc.value) == "Frame.io folders.create: HTTP 422: Unexpected field: colour (/data/colour)"


def test_connection_errors_are_retried_for_reads(rsps, fake_time):
    rsps.get(f"{API}/v4/me", body=requests.ConnectionError("connection reset by peer"))
    rsps.get(f"{API}/v4/me", body=requests.ReadTimeout("read timed out"))
    rsps.get(f"{API}/v4/me", **envelope(ME))
    assert make_client(fake_time).me().id == "u1"
    assert len(fake_time.sleeps) == 2


def test_a_post_is_not_repeated_when_the_server_may_have_acted(rsps, fake_time):
    url = f"{API}/v4/accounts/{A}/folders/root/files/local_upload"
    rsps.post(url, body=requests.ReadTimeout("read timed out"))
    client = make_client(fake_time)
    with pytest.raises(FrameioError) as exc:
        client.create_local_upload(account_id=A, folder_id="root", name="a.mov", file_size=10)
    assert exc.value.status is None and not exc.value.permanent
    assert "may have acted" in exc.value.detail
    rsps.post(url, status=500)
    with pytest.raises(FrameioError) as exc:
        client.create_local_upload(account_id=A, folder_id="root", name="a.mov", file_size=10)
    assert exc.value.status == 500 and not exc.value.permanent
    assert fake_time.sleeps == []


def test_a_post_is_repeated_when_the_server_cannot_have_acted(rsps, fake_time):
    url = f"{API}/v4/accounts/{A}/folders/root/folders"
    refused = requests.ConnectionError(MaxRetryError(None, url, NewConnectionError(None, "refused")))
    rsps.post(url, body=refused)
    rsps.post(url, body=requests.ConnectTimeout("connect timed out"))
    rsps.post(url, status=429)
    rsps.post(url, status=503)
    rsps.post(url, **envelope({"id": "f9", "name": "Dailies", "type": "folder"}, status=201))
    client = make_client(fake_time, retry=RetryPolicy(max_attempts=5, base=0.5, cap=3.0), pacing=False)
    assert client.create_folder(account_id=A, parent_id="root", name="Dailies").id == "f9"
    assert len(fake_time.sleeps) == 4


def test_a_repeated_delete_that_finds_nothing_succeeded_earlier(rsps, fake_time):
    url = f"{API}/v4/accounts/{A}/files/f1"
    rsps.delete(url, body=requests.ReadTimeout("read timed out"))
    rsps.delete(url, status=404, json={"errors": [{"detail": "Not found"}]})
    make_client(fake_time).delete_file(account_id=A, file_id="f1")


def test_a_first_delete_404_is_an_error(rsps, fake_time):
    rsps.delete(f"{API}/v4/accounts/{A}/files/f1", status=404, json={"errors": [{"detail": "Not found"}]})
    with pytest.raises(FrameioError) as exc:
        make_client(fake_time).delete_file(account_id=A, file_id="f1")
    assert exc.value.status == 404 and exc.value.permanent


# --- 401 --------------------------------------------------------------------------------------------


def test_a_401_calls_on_unauthorized_once_and_retries_with_the_new_token(rsps, fake_time):
    tokens = iter(["old-token", "new-token"])
    current = {"token": next(tokens)}
    rejected = []

    def on_unauthorized(token):
        rejected.append(token)
        current["token"] = next(tokens)

    rsps.get(f"{API}/v4/me", status=401, json={"errors": [{"detail": "Token expired"}]})
    rsps.get(f"{API}/v4/me", **envelope(ME))
    client = make_client(fake_time, token_provider=lambda: current["token"], on_unauthorized=on_unauthorized)
    assert client.me().id == "u1"
    assert rejected == ["old-token"]
    assert rsps.calls[1].request.headers["Authorization"] == "Bearer new-token"


def test_a_second_401_is_a_permanent_error(rsps, fake_time):
    calls = []
    rsps.get(f"{API}/v4/me", status=401, json={"errors": [{"detail": "Invalid token"}]})
    rsps.get(f"{API}/v4/me", status=401, json={"errors": [{"detail": "Invalid token"}]})
    client = make_client(fake_time, on_unauthorized=calls.append)
    with pytest.raises(FrameioError) as exc:
        client.me()
    assert (exc.value.status, exc.value.permanent) == (401, True)
    assert calls == [TOKEN]


def test_a_401_without_hook_is_not_retried(rsps, fake_time):
    rsps.get(f"{API}/v4/me", status=401, json={"errors": [{"detail": "Invalid token"}]})
    with pytest.raises(FrameioError):
        make_client(fake_time).me()


# --- pagination -------------------------------------------------------------------------------------


def test_pagination_follows_links_next_and_resends_the_other_parameters(rsps, fake_time):
    base = f"{API}/v4/accounts/{A}/folders/root/children"
    page = lambda ids, nxt: {"json": {"data": [{"id": i, "type": "file"} for i in ids], "links": {"next": nxt}}}  # noqa: E731
    rsps.get(
        base,
        match=[responses.matchers.query_param_matcher({"page_size": "2", "include": "metadata"})],
        **page(["a", "b"], f"/v4/accounts/{A}/folders/root/children?after=c1"),
    )
    rsps.get(
        base,
        match=[responses.matchers.query_param_matcher({"page_size": "2", "include": "metadata", "after": "c1"})],
        **page(["c", "d"], f"/v4/accounts/{A}/folders/root/children?after=c2"),
    )
    rsps.get(
        base,
        match=[responses.matchers.query_param_matcher({"page_size": "2", "include": "metadata", "after": "c2"})],
        **page(["e"], None),
    )
    children = make_client(fake_time).list_children(account_id=A, folder_id="root", include=["metadata"], page_size=2)
    assert [c.id for c in children] == ["a", "b", "c", "d", "e"]


def test_pagination_refuses_a_next_link_to_another_host(rsps, fake_time):
    rsps.get(
        f"{API}/v4/accounts",
        json={"data": [{"id": "a1"}], "links": {"next": "https://evil.example/v4/accounts?after=x"}},
    )
    with pytest.raises(FrameioError, match="another host"):
        make_client(fake_time).list_accounts()


def test_pagination_stops_on_a_repeated_cursor(rsps, fake_time):
    for _ in range(2):
        rsps.get(f"{API}/v4/accounts", json={"data": [{"id": "a1"}], "links": {"next": "/v4/accounts?after=x"}})
    with pytest.raises(FrameioError, match="repeats"):
        make_client(fake_time).list_accounts()


def test_page_size_is_capped_at_100(rsps, fake_time):
    rsps.get(
        f"{API}/v4/accounts",
        match=[responses.matchers.query_param_matcher({"page_size": "100"})],
        json={"data": [], "links": {"next": None}},
    )
    assert list(make_client(fake_time).paginate(ACCOUNTS, page_size=500)) == []


# --- pacing -----------------------------------------------------------------------------------------


class LeakyBucketServer:
    """A `responses` callback that enforces Frame.io's leaky bucket on the fake clock."""

    def __init__(self, fake_time: FakeTime, limit: int, window_ms: int) -> None:
        self.time, self.limit, self.window_ms = fake_time, limit, window_ms
        self.level, self.at = 0.0, fake_time.now
        self.statuses: list[int] = []

    def __call__(self, request):
        now = self.time.now
        self.level = max(0.0, self.level - (now - self.at) * self.limit / (self.window_ms / 1000))
        self.at = now
        if self.level + 1 > self.limit:
            status, remaining, body = 429, 0, {"errors": [{"detail": "Rate limited"}]}
        else:
            self.level += 1
            status, remaining, body = 200, int(self.limit - self.level), {"data": ME}
        self.statuses.append(status)
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-window": str(self.window_ms),
        }
        return status, headers, json.dumps(body)


def test_pacing_keeps_a_burst_under_the_rate_limit(fake_time):
    server = LeakyBucketServer(fake_time, limit=10, window_ms=1000)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.add_callback(responses.GET, f"{API}/v4/me", callback=server)
        client = make_client(fake_time)
        for _ in range(60):
            client.me()
    assert server.statuses.count(429) == 0
    assert len(server.statuses) == 60
    # 10 immediately, then one every 0.1 s: about 5 s on the fake clock, not much more.
    assert 4.9 <= fake_time.now - 1000.0 <= 5.5
    assert client.rate_limits()["users.show"].limit == 10


def test_without_pacing_the_same_burst_draws_429s(fake_time):
    server = LeakyBucketServer(fake_time, limit=10, window_ms=1000)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, f"{API}/v4/me", callback=server)
        client = make_client(fake_time, pacing=False, retry=RetryPolicy(max_attempts=1))
        errors = 0
        for _ in range(60):
            try:
                client.me()
            except FrameioError:
                errors += 1
    assert errors > 0 and server.statuses.count(429) == errors


def test_pacing_is_per_endpoint(rsps, fake_time):
    headers = {"x-ratelimit-limit": "5", "x-ratelimit-remaining": "0", "x-ratelimit-window": "1000"}
    rsps.get(f"{API}/v4/me", json={"data": ME}, headers=headers)
    rsps.get(f"{API}/v4/accounts", json={"data": [], "links": {"next": None}}, headers=headers)
    rsps.get(f"{API}/v4/me", json={"data": ME}, headers=headers)
    client = make_client(fake_time)
    client.me()
    client.list_accounts()  # another bucket: no wait
    assert fake_time.sleeps == []
    client.me()  # users.show is empty: one refill interval, window/limit = 0.2 s
    assert fake_time.sleeps == [pytest.approx(0.2)]


def test_pacing_queues_concurrent_callers_one_interval_apart():
    from frameio.client import RatePacer

    fake = FakeTime()
    lock = threading.Lock()
    waits = []
    pacer = RatePacer(clock=fake.clock, sleep=lambda s: None)
    pacer.observe("op", {"x-ratelimit-limit": "4", "x-ratelimit-remaining": "0", "x-ratelimit-window": "1000"})

    def take():
        w = pacer.acquire("op")
        with lock:
            waits.append(w)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_a_429_empties_the_local_bucket(rsps, fake_time):
    headers = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "9", "x-ratelimit-window": "1000"}
    rsps.get(f"{API}/v4/me", json={"data": ME}, headers=headers)
    rsps.get(f"{API}/v4/me", status=429, headers={**headers, "x-ratelimit-remaining": "0"})
    rsps.get(f"{API}/v4/me", json={"data": ME}, headers=headers)
    client = make_client(fake_time, rng=lambda: 0.0)  # no jitter: only the pacer waits
    client.me()
    client.me()
    assert fake_time.sleeps == [0.0, pytest.approx(0.1)]


# --- results ----------------------------------------------------------------------------------------


def test_local_upload_parses_parts_and_hides_their_urls(rsps, fake_time):
    presigned = "https://uploads.example/parts/f1/part_1?X-Amz-Signature=abc123&X-Amz-Credential=AKIA"
    data = {
        "id": "f1",
        "name": "a.mov",
        "type": "file",
        "status": "created",
        "file_size": 30,
        "media_type": "video/quicktime",
        "upload_urls": [{"size": 15, "url": presigned}, {"size": 15, "url": presigned.replace("1?", "2?")}],
    }
    rsps.post(f"{API}/v4/accounts/{A}/folders/root/files/local_upload", **envelope(data, status=201))
    upload = make_client(fake_time).create_local_upload(account_id=A, folder_id="root", name="a.mov", file_size=30)
    assert rsps.calls[0].request.body == json.dumps({"data": {"name": "a.mov", "file_size": 30}}).encode()
    assert upload.file.media_type == "video/quicktime"
    assert [u.size for u in upload.upload_urls] == [15, 15]
    assert upload.upload_urls[0].url == presigned
    assert "Signature" not in repr(upload) and "Signature" not in repr(upload.upload_urls)
    assert "upload_urls" not in upload.file.raw


def test_typed_results(rsps, fake_time):
    head = {"id": "f2", "type": "file", "status": "transcoded"}
    rsps.post(
        f"{API}/v4/accounts/{A}/folders/root/version_stacks",
        **envelope({"id": "vs1", "type": "version_stack", "head_version": head}, status=201),
    )
    rsps.get(
        f"{API}/v4/accounts/{A}/files/f2/comments",
        json={"data": [{"id": "c1", "text": "Trim", "timestamp": 12, "owner": {"id": "u9", "name": "Bo"}}]},
    )
    rsps.get(
        f"{API}/v4/accounts/{A}/metadata/field_definitions",
        json={
            "data": [
                {
                    "id": "fd1",
                    "name": "Status",
                    "field_type": "select",
                    "field_configuration": {"options": [{"id": "o1", "display_name": "Approved"}]},
                }
            ]
        },
    )
    rsps.post(
        f"{API}/v4/accounts/{A}/workspaces/w1/webhooks",
        **envelope({"id": "wh1", "name": "postflow", "secret": "whsec-SECRET"}, status=201),
    )
    client = make_client(fake_time)
    stack = client.create_version_stack(account_id=A, folder_id="root", file_ids=["f1", "f2"])
    assert stack.head_version.id == "f2" and stack.head_version.status == "transcoded"
    [comment] = client.list_comments(account_id=A, file_id="f2")
    assert (comment.timestamp, comment.owner_name) == (12, "Bo")
    [field_def] = client.list_field_definitions(account_id=A)
    assert field_def.options[0].display_name == "Approved"
    hook = client.create_webhook(account_id=A, workspace_id="w1", name="postflow", url="https://x/y", events=["a"])
    assert hook.secret == "whsec-SECRET" and "whsec" not in repr(hook)


def test_metadata_bulk_update_and_move(rsps, fake_time):
    rsps.patch(
        f"{API}/v4/accounts/{A}/projects/p1/metadata/values",
        status=204,
        match=[
            responses.matchers.json_params_matcher(
                {"data": {"file_ids": ["f1"], "values": [{"field_definition_id": "fd1", "value": ["o1"]}]}}
            )
        ],
    )
    rsps.patch(
        f"{API}/v4/accounts/{A}/files/f1/move",
        match=[responses.matchers.json_params_matcher({"data": {"parent_id": "vs1"}})],
        **envelope({"id": "f1", "type": "file", "parent_id": "vs1"}),
    )
    client = make_client(fake_time)
    client.update_metadata_values(
        account_id=A, project_id="p1", file_ids=["f1"], values=[{"field_definition_id": "fd1", "value": ["o1"]}]
    )
    assert client.move_file(account_id=A, file_id="f1", parent_id="vs1").parent_id == "vs1"


def test_a_body_without_envelope_is_an_error(rsps, fake_time):
    rsps.get(f"{API}/v4/me", json={"id": "u1"})
    with pytest.raises(FrameioError, match="envelope"):
        make_client(fake_time).me()


# --- secrets ----------------------------------------------------------------------------------------


def test_redact_strips_tokens_secrets_and_query_strings():
    text = (
        "Authorization: Bearer eyJhbGciOi.abc-def refresh_token=rt-123&x=1 "
        '{"client_secret": "cs-999", "access_token":"at-1"} '
        "PUT https://bucket.s3.amazonaws.com/parts/1?X-Amz-Signature=sig&X-Amz-Expires=60 "
        "with url: /v4/accounts?after=cursor code=abc"
    )
    out = redact(text)
    for secret in ("eyJhbGciOi", "rt-123", "cs-999", "at-1", "X-Amz-Signature=sig", "cursor", "abc"):
        assert secret not in out
    assert "https://bucket.s3.amazonaws.com/parts/1" in out and "/v4/accounts" in out
    assert redact_url("https://h.example/p/a?sig=1#f") == "https://h.example/p/a"
    assert "sig" not in repr(UploadUrl(size=1, url="https://h.example/p?sig=1"))


def test_no_secret_in_errors_or_logs(rsps, fake_time, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"{API}/v4/me"
    rsps.get(url, body=requests.ConnectionError(f"Max retries exceeded with url: /v4/me?token={TOKEN}"))
    rsps.get(url, status=500, body=f"oops Bearer {TOKEN}")
    rsps.get(url, status=500, body=f"oops Bearer {TOKEN}")
    rsps.get(url, status=500, body=f"oops Bearer {TOKEN}")
    with pytest.raises(FrameioError) as exc:
        make_client(fake_time).me()
    assert TOKEN not in str(exc.value) and TOKEN not in repr(exc.value.__dict__)
    assert TOKEN not in caplog.text


def test_connection_error_text_is_redacted(rsps, fake_time):
    rsps.get(
        f"{API}/v4/me",
        body=requests.ConnectionError("HTTPSConnectionPool: Max retries exceeded with url: /v4/me?access_token=zzz"),
    )
    with pytest.raises(FrameioError) as exc:
        make_client(fake_time, retry=RetryPolicy(max_attempts=1)).me()
    assert "zzz" not in str(exc.value)
    assert exc.value.status is None and not exc.value.permanent


def test_frameio_error_pickles():
    import pickle

    err = pickle.loads(pickle.dumps(FrameioError(503, False, "busy", "users.show")))  # noqa: S301 - our own bytes
    assert (err.status, err.permanent, err.detail, err.endpoint) == (503, False, "busy", "users.show")


def test_rejects_a_base_url_without_scheme():
    with pytest.raises(ValueError):
        FrameioClient(base_url="api.frame.io", token_provider=lambda: "t")


def test_backoff_math_matches_the_aws_formula():
    policy = RetryPolicy(base=1.0, cap=20.0)
    assert [policy.backoff(n, lambda: 1.0) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0]
    assert math.isclose(policy.backoff(3, lambda: 0.5), 4.0)


def test_a_call_that_may_not_wait_is_refused_when_the_budget_is_spent_and_never_retried(rsps, fake_time):
    """`wait=False` (the Status batch after an upload): no sleep for the pacer, no retry on 429."""
    url = f"{API}/v4/accounts/a/projects/p/metadata/values"
    limited = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-window": "60000"}
    rsps.add(responses.PATCH, url, status=429, json={"errors": [{"detail": "slow down"}]}, headers=limited)
    client = make_client(fake_time)
    values = [{"field_definition_id": "f", "value": ["o"]}]
    with pytest.raises(FrameioError) as first:
        client.update_metadata_values(account_id="a", project_id="p", file_ids=["x"], values=values, wait=False)
    assert first.value.status == 429 and len(rsps.calls) == 1
    with pytest.raises(FrameioError) as second:  # the pacer knows the bucket is empty: not even sent
        client.update_metadata_values(account_id="a", project_id="p", file_ids=["x"], values=values, wait=False)
    assert second.value.status == 429 and len(rsps.calls) == 1
    assert fake_time.sleeps == []
