"""Google Sheets sync: pull through the importer, push postflow's columns, backoff, the command.

Google is never reached: `responses` answers the service account's token request and the three
Sheets API v4 calls gspread makes (spreadsheets.get, values:batchGet, values:batchUpdate) with the
JSON shapes of the API reference. The service-account key is a fresh RSA key; the JWT it signs is
checked against the public half.
"""

import base64
import io
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
import responses
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.models import Schedule
from responses import matchers

from frameio.models import ReviewNote, Upload
from ingest.models import Render
from sheets import tasks
from sheets.client import METADATA_FIELDS, RetryPolicy, SheetsClient, SheetsError, load_credentials
from sheets.sync import sync_sheet
from shots.models import Shot, ShotEvent
from shots.sheet import SheetError
from shots.workflow import Status
from tests.factories import make_project, make_render, make_scene, make_shot

pytestmark = pytest.mark.django_db

SHEET_ID = "1AbCsheet"
TOKEN_URL = "https://oauth2.googleapis.com/token"
API = f"https://sheets.googleapis.com/v4/spreadsheets/{SHEET_ID}"
ACCESS_TOKEN = "ya29.test-access-token"
ACCOUNT = "postflow-sync@undlm-post.iam.gserviceaccount.com"

ENGLISH = ["SHOT_NUMBER", "NOMENCLATURE", "SCENE", "TIMELINE_IN", "TIMELINE_OUT", "NOTES"]
ENGLISH_PUSHED = ["STATUS", "STAGE", "VERSION", "FRAMEIO", "LAST_NOTE"]  # columns G to K
FRENCH = ["N° Plan", "Nomenclature", "Séquence", "TC In montage", "TC Out montage", "Commentaires"]
FRENCH_PUSHED = ["Statut", "Étape", "Version", "Lien Frame.io", "Dernière note"]


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key_file(tmp_path, rsa_key):
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "undlm-post",
                "private_key_id": "0123456789abcdef",
                "private_key": pem,
                "client_email": ACCOUNT,
                "client_id": "1234567890",
                "token_uri": TOKEN_URL,
            }
        )
    )
    return path


@pytest.fixture
def configured(settings, key_file):
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = str(key_file)
    settings.GOOGLE_SHEET_ID = SHEET_ID
    settings.GOOGLE_SHEET_WORKSHEET = "Shots"
    settings.GOOGLE_SHEET_COLUMNS = {}
    settings.POSTFLOW_PROJECT_CODE = "UNDLM"
    return settings


@pytest.fixture
def google():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(configured, key_file, sleeps):
    """A client whose backoff sleeps are recorded, and whose jitter draws 0.5."""
    return SheetsClient(
        credentials=load_credentials(key_file),
        spreadsheet_id=SHEET_ID,
        policy=RetryPolicy(max_attempts=3),
        sleep=sleeps.append,
        rng=lambda: 0.5,
    )


@pytest.fixture
def cut():
    """Project UNDLM (25 fps) with shots 001-003 placed at 0, 2 and 4 s, 2 s long, in SCENE A."""
    project = make_project(code="UNDLM", name="UNDLM Documentary")
    scene = make_scene(project, "SCENE A")
    for number in (1, 2, 3):
        make_shot(
            project,
            scene=scene,
            shot_number=f"{number:03d}",
            nomenclature=f"UNDLM_{number:05d}",
            timeline_in=(number - 1) * 50,
            timeline_out=(number - 1) * 50 + 50,
            duration=50,
        )
    return project


def producer(number: int, *, start: int, notes: str = "", scene: str = "SCENE A", timeline_in: str = "") -> list[str]:
    return [
        f"{number:03d}",
        f"UNDLM_{number:05d}",
        scene,
        timeline_in or f"00:00:{start:02d}:00",
        f"00:00:{start + 2:02d}:00",
        notes,
    ]


# --- the Google side --------------------------------------------------------------------------------


def expect_token(mock) -> None:
    mock.post(TOKEN_URL, json={"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"})


def expect_metadata(mock) -> None:
    mock.get(
        API,
        match=[matchers.query_param_matcher({"includeGridData": "false", "fields": METADATA_FIELDS})],
        json={
            "spreadsheetId": SHEET_ID,
            "properties": {"title": "UNDLM shot list"},
            "sheets": [
                {"properties": {"sheetId": 0, "title": "Read me", "index": 0}},
                {"properties": {"sheetId": 914, "title": "Shots", "index": 1}},
            ],
        },
    )


def expect_read(mock, grid: list[list[str]], *, status: int = 200, headers: dict | None = None) -> None:
    params = {"ranges": "'Shots'", "majorDimension": "ROWS", "valueRenderOption": "FORMATTED_VALUE"}
    if status != 200:
        body = {"error": {"code": status, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}
    else:
        body = {
            "spreadsheetId": SHEET_ID,
            "valueRanges": [{"range": "Shots!A1:Z1000", "majorDimension": "ROWS", "values": grid}],
        }
    mock.get(
        f"{API}/values:batchGet",
        match=[matchers.query_param_matcher(params)],
        json=body,
        status=status,
        headers=headers,
    )


def expect_write(mock, *, status: int = 200) -> None:
    if status != 200:
        body = {"error": {"code": status, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}
    else:
        body = {"spreadsheetId": SHEET_ID, "totalUpdatedCells": 1, "responses": []}
    mock.post(f"{API}/values:batchUpdate", json=body, status=status)


def expect_sync(mock, grid: list[list[str]], *, write: bool) -> None:
    expect_token(mock)
    expect_metadata(mock)
    expect_read(mock, grid)
    if write:
        expect_write(mock)


def writes(mock) -> list[dict]:
    return [json.loads(call.request.body) for call in mock.calls if call.request.url.endswith("values:batchUpdate")]


def b64json(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# --- data on the postflow side ---------------------------------------------------------------------


def render(shot: Shot, version: int, state: str) -> Render:
    return make_render(f"renders/{shot.nomenclature}_v{version:03d}.mov", state=state, shot=shot, version=version)


def note(shot: Shot, rendered: Render, text: str, author: str, hour: int, **fields) -> ReviewNote:
    return ReviewNote.objects.create(
        frameio_comment_id=f"c-{text[:8]}-{hour}",
        frameio_file_id="f-2",
        shot=shot,
        render=rendered,
        version=rendered.version,
        text=text,
        author=author,
        render_fps=25.0,
        commented_at=datetime(2026, 3, 2, hour, tzinfo=UTC),
        **fields,
    )


def review_shot_002() -> None:
    """002: in AE, v2 uploaded (with a Frame.io link) and v3 queued; two notes on v2 and a deleted one."""
    shot = Shot.objects.get(shot_number="002")
    Shot.objects.filter(pk=shot.pk).update(status=Status.AE_IN_PROGRESS)
    v2 = render(shot, 2, Render.State.UPLOADED)
    Upload.objects.create(render=v2, state=Upload.State.UPLOADED, view_url="https://next.frame.io/project/p/view/v2")
    render(shot, 3, Render.State.QUEUED)
    render(shot, 4, Render.State.QUARANTINED)  # a render that does not count as a version
    note(shot, v2, "Too dark", "Alice", 10)
    note(shot, v2, '=HYPERLINK("http://evil.example/x")', "Bob", 11)
    note(shot, v2, "deleted later", "Carol", 12, deleted_at=timezone.now())


# --- push -----------------------------------------------------------------------------------------


def test_push_sends_raw_values_in_one_batch_update_of_changed_cells(configured, google, cut, rsa_key):
    review_shot_002()
    grid = [
        ENGLISH + ENGLISH_PUSHED,
        producer(1, start=0),  # row 2: postflow cells empty
        [*producer(2, start=2), "Pending"],  # row 3: a stale status
        [*producer(3, start=4), "Pending", "Source"],  # row 4: already right
        [],  # row 5: blank
        ["", "", "", "", "", "", "junk typed in a postflow column"],  # row 6: no shot
    ]
    expect_sync(google, grid, write=True)

    report = sync_sheet(project_code="UNDLM")

    [body] = writes(google)  # one values.batchUpdate for the whole sync
    assert body == {
        "valueInputOption": "RAW",
        "includeValuesInResponse": False,
        "data": [
            {
                "range": "'Shots'!G2:G6",
                "majorDimension": "COLUMNS",
                "values": [["Pending", "AE in progress", None, None, ""]],  # null: Sheets leaves the cell
            },
            {"range": "'Shots'!H2:H3", "majorDimension": "COLUMNS", "values": [["Source", "After Effects"]]},
            {"range": "'Shots'!I3", "majorDimension": "COLUMNS", "values": [[3]]},
            {
                "range": "'Shots'!J3",
                "majorDimension": "COLUMNS",
                "values": [["https://next.frame.io/project/p/view/v2"]],
            },
            {
                "range": "'Shots'!K3",
                "majorDimension": "COLUMNS",
                "values": [['v2 · Bob: =HYPERLINK("http://evil.example/x")']],
            },
        ],
    }
    assert (report.push_cells, report.push_applied, report.pull_applied) == (8, True, False)
    assert (report.created, report.updated, report.unchanged, report.invalid) == (0, 0, 3, [])
    assert ShotEvent.objects.count() == 0

    token_call, *sheets_calls = google.calls
    assert all(call.request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}" for call in sheets_calls)
    body = token_call.request.body
    form = parse_qs(body.decode() if isinstance(body, bytes) else body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    header, claims, signature = form["assertion"][0].split(".")
    assert b64json(header)["alg"] == "RS256"
    assert b64json(claims)["iss"] == ACCOUNT
    assert b64json(claims)["aud"] == TOKEN_URL
    assert b64json(claims)["scope"] == "https://www.googleapis.com/auth/spreadsheets"
    rsa_key.public_key().verify(  # signed with the key in the file; raises if not
        base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
        f"{header}.{claims}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_french_headers_are_found_by_alias(configured, google, cut):
    review_shot_002()
    grid = [
        ["Remarque interne", *FRENCH, *FRENCH_PUSHED],  # an unknown column first: every column moves right
        ["", *producer(1, start=0), "En attente"],
        ["", *producer(2, start=2)],
        ["", *producer(3, start=4), "Pending", "Source"],
    ]
    expect_sync(google, grid, write=True)

    report = sync_sheet(project_code="UNDLM")

    assert report.columns == {
        "shot_number": "N° Plan",
        "nomenclature": "Nomenclature",
        "scene": "Séquence",
        "timeline_in": "TC In montage",
        "timeline_out": "TC Out montage",
        "notes": "Commentaires",
    }
    assert report.pushed_columns == {
        "status": "Statut",
        "stage": "Étape",
        "version": "Version",
        "frameio": "Lien Frame.io",
        "last_note": "Dernière note",
    }
    assert report.ignored_columns == ["Remarque interne"]
    assert report.missing_pushed_columns == []
    [body] = writes(google)
    assert [item["range"] for item in body["data"]] == [
        "'Shots'!H2:H3",
        "'Shots'!I2:I3",
        "'Shots'!J3",
        "'Shots'!K3",
        "'Shots'!L3",
    ]
    assert body["data"][0]["values"] == [["Pending", "AE in progress"]]
    assert body["valueInputOption"] == "RAW"


def test_header_override_and_missing_postflow_columns(configured, google, cut):
    configured.GOOGLE_SHEET_COLUMNS = {"status": "État VFX", "scene": "Where"}
    grid = [
        ["SHOT_NUMBER", "NOMENCLATURE", "Where", "TIMELINE_IN", "TIMELINE_OUT", "NOTES", "État VFX"],
        [*producer(1, start=0), "Pending"],
        [*producer(2, start=2), "Pending"],
        [*producer(3, start=4), "Pending"],
    ]
    expect_sync(google, grid, write=False)  # every status is already right: no write at all

    report = sync_sheet(project_code="UNDLM")

    assert report.columns["scene"] == "Where"
    assert report.pushed_columns == {"status": "État VFX"}
    assert report.missing_pushed_columns == ["stage", "version", "frameio", "last_note"]
    assert (report.push_cells, report.push_ranges, report.push_applied) == (0, [], False)


def test_two_columns_that_look_like_status_are_refused(configured, google, cut):
    grid = [[*ENGLISH, "STATUS", "Statut"], producer(1, start=0)]
    expect_token(google)
    expect_metadata(google)
    expect_read(google, grid)
    with pytest.raises(SheetError, match="'STATUS' and 'Statut' both look like status"):
        sync_sheet(project_code="UNDLM")


# --- pull -----------------------------------------------------------------------------------------


def test_pull_applies_valid_rows_and_reports_an_invalid_timecode_by_sheet_row(configured, google, cut):
    make_shot(cut, shot_number="005", nomenclature="UNDLM_00005", timeline_in=400, timeline_out=450, duration=50)
    grid = [
        [*ENGLISH, "STATUS"],
        producer(1, start=0, notes="Plan de coupe ajouté"),  # row 2: notes edited
        producer(2, start=2, notes="should not land", timeline_in="00:00:99:00"),  # row 3: bad timecode
        producer(3, start=4),  # row 4: unchanged
        producer(4, start=6, scene="SCENE B"),  # row 5: a new row
    ]  # 005 is not in the sheet
    expect_sync(google, grid, write=True)

    report = sync_sheet(project_code="UNDLM")

    assert report.invalid == [
        {
            "row": 3,
            "column": "TIMELINE_IN",
            "value": "00:00:99:00",
            "reason": report.invalid[0]["reason"],
        }
    ]
    assert report.invalid[0]["reason"].startswith("bad timecode")
    assert (report.created, report.updated, report.unchanged) == (1, 1, 1)
    assert report.changes["updated"] == [{"shot_number": "001", "fields": {"notes": ("", "Plan de coupe ajouté")}}]
    assert report.pull_applied
    shots = {shot.shot_number: shot for shot in Shot.objects.select_related("scene")}
    assert shots["001"].notes == "Plan de coupe ajouté"
    assert (shots["002"].notes, shots["002"].timeline_in) == ("", 50)  # left unapplied
    assert (shots["004"].scene.name, shots["004"].timeline_in, shots["004"].duration) == ("SCENE B", 150, 50)
    assert not shots["005"].omitted  # rows missing from the sheet are never omitted by a sync
    assert report.shots_not_in_sheet == ["005"]
    event = ShotEvent.objects.get(shot=shots["001"])
    assert (event.kind, event.actor) == (ShotEvent.Kind.UPDATED, "sheets")
    assert event.details["source"] == f"google-sheet:{SHEET_ID}/Shots"
    assert ShotEvent.objects.get(shot=shots["004"]).kind == ShotEvent.Kind.CREATED
    # The new shot gets its status in the same sync, next to the invalid row's (still pushed) one.
    [body] = writes(google)
    assert body["data"] == [
        {"range": "'Shots'!G2:G5", "majorDimension": "COLUMNS", "values": [["Pending"] * 4]},
    ]


def test_a_producer_column_the_sheet_lacks_keeps_postflow_values(configured, google, cut):
    Shot.objects.filter(shot_number="002").update(notes="note from the first import")
    grid = [
        ["SHOT_NUMBER", "NOMENCLATURE", "SCENE", "TIMELINE_IN", "TIMELINE_OUT"],  # no NOTES column
        producer(1, start=0)[:5],
        producer(2, start=4)[:5],  # moved in the cut: applied
        producer(3, start=4)[:5],
    ]
    expect_sync(google, grid, write=False)

    report = sync_sheet(project_code="UNDLM")

    assert "notes" in report.unlisted_fields
    assert report.changes["updated"] == [
        {
            "shot_number": "002",
            "fields": {"timeline_in": ("00:00:02:00", "00:00:04:00"), "timeline_out": ("00:00:04:00", "00:00:06:00")},
        }
    ]
    shot = Shot.objects.get(shot_number="002")
    assert (shot.notes, shot.timeline_in) == ("note from the first import", 100)


def test_a_second_sync_changes_nothing(configured, google, cut):
    grid = [[*ENGLISH, "STATUS", "STAGE"], producer(1, start=0), producer(2, start=2), producer(4, start=6)]
    expect_sync(google, grid, write=True)
    sync_sheet(project_code="UNDLM")
    events = ShotEvent.objects.count()
    pushed = writes(google)[0]["data"]
    assert pushed[0]["values"] == [["Pending", "Pending", "Pending"]]

    # The sheet as Google now holds it: the pushed values in place.
    synced = [[*row, "Pending", "Source"] for row in grid[1:]]
    google.reset()
    expect_sync(google, [grid[0], *synced], write=False)
    report = sync_sheet(project_code="UNDLM")

    assert (report.created, report.updated, report.push_cells) == (0, 0, 0)
    assert ShotEvent.objects.count() == events
    assert Shot.objects.filter(shot_number="004").count() == 1


# --- retries ----------------------------------------------------------------------------------------


def test_quota_errors_are_retried_with_retry_after_then_full_jitter(google, cut, client, sleeps):
    grid = [[*ENGLISH, "STATUS"], producer(1, start=0)]
    expect_token(google)
    expect_metadata(google)
    expect_read(google, grid, status=429, headers={"Retry-After": "7"})
    expect_read(google, grid)
    expect_write(google, status=429)  # no Retry-After: random(0, min(64, 1 * 2**0)) with the draw at 0.5
    expect_write(google)

    report = sync_sheet(project_code="UNDLM", client=client)

    assert sleeps == [7.0, 0.5]
    first, second = writes(google)
    assert first == second  # the same RAW ranges again: safe to repeat
    assert report.push_applied


def test_quota_errors_give_up_after_the_last_attempt(google, cut, client, sleeps):
    expect_token(google)
    expect_metadata(google)
    for _ in range(3):
        expect_read(google, [], status=429)

    with pytest.raises(SheetsError) as raised:
        sync_sheet(project_code="UNDLM", client=client)

    assert (raised.value.status, raised.value.permanent) == (429, False)
    assert sleeps == [0.5, 1.0]  # full jitter: 0.5 * 1 s, then 0.5 * 2 s
    assert ACCESS_TOKEN not in str(raised.value)


def test_a_sheet_not_shared_with_the_account_is_not_retried(google, cut, client, sleeps):
    expect_token(google)
    google.get(API, status=403, json={"error": {"code": 403, "message": "The caller does not have permission"}})

    with pytest.raises(SheetsError, match=f"share the spreadsheet with {ACCOUNT}") as raised:
        sync_sheet(project_code="UNDLM", client=client)

    assert (raised.value.status, raised.value.permanent, sleeps) == (403, True, [])


# --- dry run, command, schedule -----------------------------------------------------------------------


def test_dry_run_reads_and_plans_but_writes_nothing(configured, google, cut):
    grid = [
        [*ENGLISH, "STATUS"],
        producer(1, start=0, notes="edited"),
        producer(2, start=2),
        producer(3, start=4),
        producer(9, start=8),
    ]
    expect_sync(google, grid, write=False)  # a batchUpdate would hit no registered response and fail

    out = call_command_output("sheets_sync", "--dry-run", "--json")

    report = json.loads(out)
    assert (report["created"], report["updated"], report["dry_run"]) == (1, 1, True)
    assert (report["pull_applied"], report["push_applied"]) == (False, False)
    assert report["push_ranges"] == ["'Shots'!G2:G4"]  # 009 does not exist yet: its status comes next sync
    assert Shot.objects.filter(shot_number="009").count() == 0
    assert Shot.objects.get(shot_number="001").notes == ""
    assert ShotEvent.objects.count() == 0


def test_command_prints_the_plan(configured, google, cut):
    grid = [[*ENGLISH, "STATUS"], producer(1, start=0), producer(2, start=2, timeline_in="1:00")]
    expect_sync(google, grid, write=True)

    out = call_command_output("sheets_sync")

    assert "'UNDLM shot list' / 'Shots': 2 rows under the header (row 1)" in out
    assert "row 3, column 'TIMELINE_IN', value '1:00': bad timecode" in out
    assert "no column for stage, version, frameio, last_note" in out
    assert "Push: 2 cell(s) in 1 range(s): 'Shots'!G2:G3" in out  # the invalid row's shot still gets its status
    assert "Applied. Invalid rows were left out." in out


@pytest.mark.parametrize(
    ("file", "sheet", "named"),
    [
        ("", "", "set GOOGLE_SERVICE_ACCOUNT_FILE and GOOGLE_SHEET_ID"),
        ("/etc/postflow/key.json", "", "set GOOGLE_SHEET_ID "),
        ("", SHEET_ID, "set GOOGLE_SERVICE_ACCOUNT_FILE "),
    ],
)
def test_off_until_configured(settings, google, file, sheet, named):
    settings.GOOGLE_SERVICE_ACCOUNT_FILE = file
    settings.GOOGLE_SHEET_ID = sheet
    with pytest.raises(CommandError, match=named):
        call_command("sheets_sync")
    tasks.sheets_sync()  # the schedule's job: no error, no request (none is registered)
    assert len(google.calls) == 0


def test_an_unreadable_key_file_is_named(configured, tmp_path):
    configured.GOOGLE_SERVICE_ACCOUNT_FILE = str(tmp_path / "missing.json")
    with pytest.raises(CommandError, match=r"GOOGLE_SERVICE_ACCOUNT_FILE: cannot read .*missing\.json"):
        call_command("sheets_sync")


def test_the_schedule_runs_the_task_every_five_minutes():
    schedule = Schedule.objects.get(name="shots.sheets_sync")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == ("sheets.tasks.sheets_sync", "I", 5)


def test_the_scheduled_task_syncs_when_configured(configured, google, cut):
    grid = [[*ENGLISH, "STATUS"], producer(1, start=0, notes="from the schedule")]
    expect_sync(google, grid, write=True)
    tasks.sheets_sync()
    assert Shot.objects.get(shot_number="001").notes == "from the schedule"


def call_command_output(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()
