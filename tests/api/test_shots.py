"""GET /api/v1/shots, /shots/{nomenclature}, its versions and notes: every answer validated against the
served OpenAPI document (tests/api/conftest.py `call`)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from frameio.models import Upload
from ingest.models import Render
from shots.workflow import Status
from tests.factories import make_project, make_render, make_review_note, make_scene, make_shot

pytestmark = pytest.mark.django_db


@pytest.fixture
def cut():
    """Scene 1 with three shots placed out of creation order, scene 2 with one, and an omitted shot."""
    project = make_project(code="UNDLM", fps=25)
    one, two = make_scene(project, "REVEIL", number=1), make_scene(project, "RUE", number=2)
    make_shot(project, scene=one, nomenclature="UNDLM_00030", timeline_in=300, timeline_out=350, status=Status.AE_READY)
    make_shot(project, scene=one, nomenclature="UNDLM_00010", timeline_in=100, timeline_out=150, duration=50)
    make_shot(project, scene=one, nomenclature="UNDLM_00020", timeline_in=200, timeline_out=260, status=Status.AE_READY)
    make_shot(project, scene=two, nomenclature="UNDLM_00040", timeline_in=400, status=Status.REVIEW_UPLOADED)
    make_shot(project, scene=two, nomenclature="UNDLM_00050", timeline_in=500, omitted=True)
    return project


def test_shots_are_listed_in_cut_order_with_filters(call, token, cut):
    response = call("GET", "/api/v1/shots", token=token)
    assert response.status_code == 200
    page = response.json()
    assert [s["nomenclature"] for s in page["results"]] == ["UNDLM_00010", "UNDLM_00020", "UNDLM_00030", "UNDLM_00040"]
    assert page["count"] == 4 and page["next"] is None

    scene_ready = call("GET", "/api/v1/shots?scene=1&status=ae_ready", token=token).json()
    assert [s["nomenclature"] for s in scene_ready["results"]] == ["UNDLM_00020", "UNDLM_00030"]
    review = call("GET", "/api/v1/shots?stage=review", token=token).json()
    assert [s["nomenclature"] for s in review["results"]] == ["UNDLM_00040"]
    omitted = call("GET", "/api/v1/shots?omitted=true", token=token).json()
    assert [s["nomenclature"] for s in omitted["results"]] == ["UNDLM_00050"]


def test_pages_follow_each_other_without_overlap(call, token, cut):
    first = call("GET", "/api/v1/shots?page_size=3", token=token).json()
    assert first["count"] == 4 and first["next"].endswith("/api/v1/shots?page_size=3&page=2")
    second = call("GET", "/api/v1/shots?page_size=3&page=2", token=token).json()
    names = [s["nomenclature"] for s in first["results"] + second["results"]]
    assert names == ["UNDLM_00010", "UNDLM_00020", "UNDLM_00030", "UNDLM_00040"]
    assert second["next"] is None


def test_one_shot_with_its_timecodes_version_link_and_open_notes(call, token, cut):
    shot = cut.shots.get(nomenclature="UNDLM_00010")
    make_render("UNDLM_00010_v001.mov", state=Render.State.UPLOADED, shot=shot, version=1)
    v2 = make_render("UNDLM_00010_v002.mov", state=Render.State.UPLOADED, shot=shot, version=2)
    Upload.objects.create(
        render=v2, state=Upload.State.READY, view_url="https://next.frame.io/v/2", frameio_file_id="f2"
    )
    make_review_note(shot, version=2, text="sky too warm")
    make_review_note(shot, version=2, text="done", completed_at=v2.first_seen)

    body = call("GET", "/api/v1/shots/UNDLM_00010", token=token).json()
    assert body["record_in"] == {"frames": 100, "timecode": "00:00:04:00"}
    assert body["duration"] == {"frames": 50, "timecode": "00:00:02:00"}
    assert body["source_in"] == {"frames": None, "timecode": ""}
    assert body["scene"] == {"number": 1, "name": "REVEIL"}
    assert (body["status"], body["stage"], body["allowed_moves"]) == ("pending", "source", ["sources_verified"])
    assert (body["latest_version"], body["frameio_version"]) == (2, 2)
    assert body["frameio_url"] == "https://next.frame.io/v/2"
    assert body["open_notes"] == 1


def test_unknown_shot_is_404_json(call, token, cut):
    for path in ("/api/v1/shots/NOPE_1", "/api/v1/shots/NOPE_1/versions", "/api/v1/shots/NOPE_1/notes"):
        response = call("GET", path, token=token)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found" and "NOPE_1" in response.json()["detail"]


def test_a_nomenclature_in_two_projects_needs_the_project(call, token, cut):
    other = make_project(code="OTHER")
    make_shot(other, nomenclature="UNDLM_00010")
    response = call("GET", "/api/v1/shots/UNDLM_00010", token=token)
    assert response.status_code == 409
    assert response.json()["valid"] == ["OTHER", "UNDLM"]
    chosen = call("GET", "/api/v1/shots/UNDLM_00010?project=OTHER", token=token).json()
    assert chosen["project"] == "OTHER"


def test_versions_list_every_render_with_its_facts_and_upload(call, token, cut):
    shot = cut.shots.get(nomenclature="UNDLM_00010")
    media = {"codec": "prores", "fps": 25.0, "width": 1920, "height": 1080, "frames": 50}
    v1 = make_render(
        "renders/UNDLM_00010_v001.mov",
        state=Render.State.UPLOADED,
        shot=shot,
        version=1,
        checksum="ab" * 16,
        media=media,
    )
    Upload.objects.create(render=v1, state=Upload.State.READY, frameio_file_id="file-1", view_url="https://f.io/1")
    make_render("renders/UNDLM_00010_v002.mov", state=Render.State.VERIFIED, shot=shot, version=2, size=1234)

    versions = call("GET", "/api/v1/shots/UNDLM_00010/versions", token=token).json()
    assert [(v["version"], v["state"]) for v in versions] == [(2, "verified"), (1, "uploaded")]
    assert versions[0]["upload"] is None and versions[0]["size"] == 1234
    assert versions[1]["checksum"] == "ab" * 16 and versions[1]["media"] == media
    assert versions[1]["upload"]["frameio_file_id"] == "file-1"
    assert versions[1]["upload"]["view_url"] == "https://f.io/1"


def test_notes_carry_record_and_render_timecodes(call, token, cut):
    shot = cut.shots.get(nomenclature="UNDLM_00010")
    make_review_note(shot, frame=26, text="grain", author="Réa")
    make_review_note(shot, frame=5, text="deleted", deleted_at=shot.created_at)

    notes = call("GET", "/api/v1/shots/UNDLM_00010/notes", token=token).json()
    assert len(notes) == 1
    note = notes[0]
    # Frame 26 of a 25 fps render is 1 s in; the shot's record in is frame 100 (4 s).
    assert (note["render_timecode"], note["record_timecode"]) == ("00:00:01:00", "00:00:05:00")
    assert (note["author"], note["text"], note["completed"]) == ("Réa", "grain", False)


def test_bad_query_values_are_400_naming_the_field(call, token, cut, settings):
    status = call("GET", "/api/v1/shots?status=ae_started", token=token)
    assert status.status_code == 400
    assert status.json()["error"] == "unknown_status" and "ae_in_progress" in status.json()["valid"]
    stage = call("GET", "/api/v1/shots?stage=comp", token=token)
    assert stage.status_code == 400 and "after_effects" in stage.json()["valid"]
    too_big = call("GET", f"/api/v1/shots?page_size={settings.POSTFLOW_API_MAX_PAGE_SIZE + 1}", token=token)
    assert too_big.status_code == 400 and too_big.json()["fields"] == ["query.page_size"]
    not_a_number = call("GET", "/api/v1/shots?page=two", token=token, validate_request=False)
    assert not_a_number.status_code == 400 and not_a_number.json()["fields"] == ["query.page"]


def test_the_number_of_queries_does_not_grow_with_the_shots(call, token, cut):
    scene = cut.scenes.get(number=1)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert call("GET", "/api/v1/shots?page_size=100", token=token).status_code == 200
        return len(captured)

    queries()  # the token's first use records last_used_at (at most once a minute): not a per-shot cost
    few = queries()
    for n in range(60):
        shot = make_shot(cut, scene=scene, nomenclature=f"UNDLM_{1000 + n:05d}", timeline_in=1000 + n)
        make_render(f"UNDLM_{1000 + n:05d}_v001.mov", state=Render.State.VERIFIED, shot=shot, version=1)
        make_review_note(shot, version=1)
    assert queries() == few


def test_reading_needs_the_view_permission(call, make_token, cut, django_user_model):
    nobody = django_user_model.objects.create_user("bob", password="x")
    response = call("GET", "/api/v1/shots", token=make_token(nobody))
    assert response.status_code == 403 and "shots.view_shot" in response.json()["detail"]
