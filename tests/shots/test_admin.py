"""The shot admin: filters, search, the Move to… / Force status… actions, read-only status, exports."""

import io
import zipfile

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from shots import exports
from shots.admin import MAX_SKIP_MESSAGES
from shots.models import Project, Shot, ShotEvent
from shots.services import shot_transition
from shots.workflow import Status
from tests.factories import make_project, make_scene, make_shot, make_source

CHANGELIST = reverse("admin:shots_shot_changelist")


@pytest.fixture
def shots(db) -> dict[str, Shot]:
    """Six shots. alpha.mov: 001+002; charlie.mov: 004 (omitted) + 005; bravo.mov: 003 alone."""
    project = make_project()
    day, night = make_scene(project, "DAY"), make_scene(project, "NIGHT")
    alpha, bravo, charlie = (make_source(project, name) for name in ("alpha.mov", "bravo.mov", "charlie.mov"))
    rows = [
        ("001", day, alpha, Status.PENDING, {"notes": "retirer perche"}),
        ("002", day, alpha, Status.SOURCES_VERIFIED, {}),
        ("003", night, bravo, Status.AE_IN_PROGRESS, {"nomenclature": ""}),
        ("004", night, charlie, Status.REVIEW_APPROVED, {"omitted": True}),
        ("005", night, charlie, Status.FINAL_DELIVERY, {}),
        ("006", day, None, Status.AE_COMPLETED, {}),
    ]
    return {
        number: make_shot(
            project, scene=scene, shot_number=number, source=source, status=status, timeline_in=0, **extra
        )
        for number, scene, source, status, extra in rows
    }


def staff_client(*permissions: str) -> Client:
    user = User.objects.create_user("producer", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="shots", codename__in=permissions))
    client = Client()
    client.force_login(user)
    return client


def listed(client: Client, **params: str) -> set[str]:
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return {shot.shot_number for shot in response.context["cl"].result_list}


def act(client: Client, action: str, shots: list[Shot], **data: str):
    """Post an action as the changelist does (first click: with "index")."""
    return client.post(CHANGELIST, {"action": action, "index": "0", "_selected_action": [s.pk for s in shots], **data})


def confirm(client: Client, action: str, shots: list[Shot], **data: str):
    """Post the action's confirmation page (no "index", with "apply")."""
    payload = {"action": action, "apply": "1", "_selected_action": [s.pk for s in shots], **data}
    return client.post(CHANGELIST, payload)


def message_texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def statuses() -> dict[str, str]:
    return dict(Shot.objects.values_list("shot_number", "status"))


# --- filters and search -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"001", "002", "003", "004", "005", "006"}),
        ({"status__exact": "pending"}, {"001"}),
        ({"stage": "after_effects"}, {"003", "006"}),
        ({"stage": "review"}, {"004"}),
        ({"stage": "delivery"}, {"005"}),
        ({"missing_nomenclature": "yes"}, {"003"}),
        ({"missing_nomenclature": "no"}, {"001", "002", "004", "005", "006"}),
        # 004 is omitted but cut from charlie.mov, which 005 uses; 005 shares only with an omitted shot.
        ({"shares_source": "yes"}, {"001", "002", "004"}),
        ({"shares_source": "no"}, {"003", "005", "006"}),
        ({"omitted__exact": "1"}, {"004"}),
        ({"omitted__exact": "0"}, {"001", "002", "003", "005", "006"}),
        ({"stage": "source", "shares_source": "yes"}, {"001", "002"}),
    ],
)
def test_filters(admin_client: Client, shots: dict[str, Shot], params: dict[str, str], expected: set[str]) -> None:
    assert listed(admin_client, **params) == expected


def test_scene_filter(admin_client: Client, shots: dict[str, Shot]) -> None:
    assert listed(admin_client, scene__id__exact=str(shots["001"].scene_id)) == {"001", "002", "006"}
    assert listed(admin_client, scene__id__exact=str(shots["003"].scene_id)) == {"003", "004", "005"}


def test_unknown_stage_is_refused(admin_client: Client, shots: dict[str, Shot]) -> None:
    response = admin_client.get(CHANGELIST, {"stage": "nope"})
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("TST_00002", {"002"}),
        ("006", {"006"}),
        ("bravo", {"003"}),
        ("charlie.mov", {"004", "005"}),
        ("perche", {"001"}),
    ],
)
def test_search(admin_client: Client, shots: dict[str, Shot], query: str, expected: set[str]) -> None:
    assert listed(admin_client, q=query) == expected


def test_changelist_query_count_does_not_grow_with_shots(
    admin_client: Client, shots: dict[str, Shot], django_assert_max_num_queries
) -> None:
    with CaptureQueriesContext(connection) as few:
        admin_client.get(CHANGELIST)
    project = Project.objects.get()
    scenes = [make_scene(project, f"SCENE {i}") for i in range(12)]
    for i in range(120):
        make_shot(project, scene=scenes[i % 12], source=make_source(project, f"clip{i % 40}.mov"), timeline_in=i)
    with django_assert_max_num_queries(12):
        response = admin_client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 100  # a full page
    with CaptureQueriesContext(connection) as many:
        admin_client.get(CHANGELIST)
    assert len(many) == len(few)


# --- Move to… -----------------------------------------------------------------------------


def test_move_to_offers_only_legal_targets(admin_client: Client, shots: dict[str, Shot]) -> None:
    selection = [shots["001"], shots["002"], shots["006"]]
    response = act(admin_client, "move_to", selection)
    assert response.status_code == 200
    assert "admin/shots/shot/move_to.html" in [t.name for t in response.templates]
    assert [value for value, _ in response.context["form"].fields["to_status"].choices] == [
        "sources_verified",  # from 001 pending
        "ae_ready",  # from 002 sources_verified
        "ebsynth_ready",  # from 006 ae_completed
        "review_uploaded",  # from 006 ae_completed
    ]
    content = response.content.decode()
    assert "csrfmiddlewaretoken" in content
    assert 'name="index"' not in content  # the confirmation must not look like a first click
    assert not ShotEvent.objects.exists()


def test_move_to_moves_legal_shots_and_reports_the_others(admin_client: Client, shots: dict[str, Shot]) -> None:
    selection = [shots["001"], shots["002"], shots["006"]]
    response = confirm(admin_client, "move_to", selection, to_status="ae_ready")
    assert response.status_code == 302
    assert statuses() == {
        "001": "pending",
        "002": "ae_ready",
        "003": "ae_in_progress",
        "004": "review_approved",
        "005": "final_delivery",
        "006": "ae_completed",
    }
    [event] = ShotEvent.objects.all()
    assert (event.shot_id, event.kind, event.from_status, event.to_status, event.actor) == (
        shots["002"].pk,
        ShotEvent.Kind.TRANSITION,
        "sources_verified",
        "ae_ready",
        "user:admin",
    )
    texts = message_texts(response)
    assert texts[0] == "1 shot moved to AE ready."
    assert texts[1:] == [
        "Skipped TST_00001: cannot move from pending to ae_ready; allowed from pending: sources_verified",
        "Skipped TST_00006: cannot move from ae_completed to ae_ready; "
        "allowed from ae_completed: ebsynth_ready, review_uploaded",
    ]


def test_move_to_skips_a_shot_moved_in_the_meantime(admin_client: Client, shots: dict[str, Shot]) -> None:
    # The page offered ae_ready for 002; someone moves it before the producer confirms.
    act(admin_client, "move_to", [shots["002"]])
    shot_transition(shot_id=shots["002"].pk, to_status=Status.AE_READY, actor="user:other")
    response = confirm(admin_client, "move_to", [shots["002"], shots["001"]], to_status="sources_verified")
    assert statuses()["001"] == "sources_verified"
    assert statuses()["002"] == "ae_ready"
    assert ShotEvent.objects.count() == 2
    assert any(t.startswith("Skipped TST_00002: cannot move from ae_ready") for t in message_texts(response))


def test_move_to_refuses_a_target_it_did_not_offer(admin_client: Client, shots: dict[str, Shot]) -> None:
    response = confirm(admin_client, "move_to", [shots["001"]], to_status="final_delivery")
    assert response.status_code == 200
    assert "to_status" in response.context["form"].errors
    assert statuses()["001"] == "pending"
    assert not ShotEvent.objects.exists()


def test_move_to_with_no_legal_move(admin_client: Client, shots: dict[str, Shot]) -> None:
    response = act(admin_client, "move_to", [shots["005"]])
    assert response.status_code == 302
    assert message_texts(response) == ["None of the selected shots has a legal move."]


def test_many_refusals_are_summed_up(admin_client: Client, shots: dict[str, Shot]) -> None:
    project = Project.objects.get()
    pending = [make_shot(project) for _ in range(MAX_SKIP_MESSAGES + 3)]
    response = confirm(admin_client, "move_to", [*pending, shots["002"]], to_status="ae_ready")
    texts = message_texts(response)
    assert len(texts) == 1 + MAX_SKIP_MESSAGES + 1
    assert texts[-1] == "… and 3 more skipped."


# --- Force status… --------------------------------------------------------------------------


def test_force_status_with_a_reason(admin_client: Client, shots: dict[str, Shot]) -> None:
    selection = [shots["001"], shots["003"], shots["005"]]
    page = act(admin_client, "force_status", selection)
    assert page.status_code == 200
    assert "admin/shots/shot/force_status.html" in [t.name for t in page.templates]
    response = confirm(admin_client, "force_status", selection, to_status="final_delivery", reason=" client call ")
    assert response.status_code == 302
    assert statuses()["001"] == statuses()["003"] == "final_delivery"
    events = ShotEvent.objects.order_by("shot__shot_number")
    assert [(e.shot.shot_number, e.kind, e.from_status, e.reason, e.actor) for e in events] == [
        ("001", ShotEvent.Kind.OVERRIDE, "pending", "client call", "user:admin"),
        ("003", ShotEvent.Kind.OVERRIDE, "ae_in_progress", "client call", "user:admin"),
    ]
    assert message_texts(response) == [
        "2 shots forced to Final delivery.",
        "Skipped TST_00005 is already final_delivery",
    ]


@pytest.mark.parametrize("reason", ["", "   \n "])
def test_force_status_needs_a_reason(admin_client: Client, shots: dict[str, Shot], reason: str) -> None:
    response = confirm(admin_client, "force_status", [shots["001"]], to_status="final_delivery", reason=reason)
    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["This field is required."]}
    assert statuses()["001"] == "pending"
    assert not ShotEvent.objects.exists()


def test_force_status_is_hidden_and_refused_without_the_permission(shots: dict[str, Shot]) -> None:
    client = staff_client("view_shot", "change_shot")
    choices = [name for name, _ in client.get(CHANGELIST).context["action_form"].fields["action"].choices]
    assert "move_to" in choices
    assert "force_status" not in choices
    assert act(client, "force_status", [shots["001"]]).status_code == 403
    forged = confirm(client, "force_status", [shots["001"]], to_status="final_delivery", reason="because")
    assert forged.status_code == 403
    assert statuses()["001"] == "pending"
    assert not ShotEvent.objects.exists()


def test_force_status_with_the_permission_only(shots: dict[str, Shot]) -> None:
    client = staff_client("view_shot", "change_shot", "force_status")
    response = confirm(client, "force_status", [shots["001"]], to_status="review_approved", reason="fixed by hand")
    assert response.status_code == 302
    assert ShotEvent.objects.get().actor == "user:producer"
    assert statuses()["001"] == "review_approved"


def test_move_to_needs_the_change_permission(shots: dict[str, Shot]) -> None:
    client = staff_client("view_shot")
    choices = [name for name, _ in client.get(CHANGELIST).context["action_form"].fields["action"].choices]
    assert "move_to" not in choices
    assert "export_production_csv" in choices
    confirm(client, "move_to", [shots["001"]], to_status="sources_verified")
    assert statuses()["001"] == "pending"


# --- the change form ------------------------------------------------------------------------


def change_url(shot: Shot) -> str:
    return reverse("admin:shots_shot_change", args=[shot.pk])


def form_data(response) -> dict[str, object]:
    """What a browser would post back from a change page: the form and its inline formsets."""
    data: dict[str, object] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None:
                data[form.add_prefix(name)] = value
    return data


def test_status_is_read_only_on_the_change_form(admin_client: Client, shots: dict[str, Shot]) -> None:
    shot = shots["004"]
    shot_transition(shot_id=shot.pk, to_status=Status.FINAL_DELIVERY, actor="user:alice")
    page = admin_client.get(change_url(shot))
    assert "status" not in page.context["adminform"].form.fields
    assert 'name="status"' not in page.content.decode()
    data = {**form_data(page), "status": "pending", "notes": "fixed"}
    response = admin_client.post(change_url(shot), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    shot.refresh_from_db()
    assert (shot.status, shot.notes) == ("final_delivery", "fixed")


def test_change_form_shows_history_read_only(admin_client: Client, shots: dict[str, Shot]) -> None:
    shot_transition(shot_id=shots["001"].pk, to_status=Status.SOURCES_VERIFIED, actor="user:alice")
    page = admin_client.get(change_url(shots["001"]))
    history = page.context["inline_admin_formsets"][0]  # then the review notes (frameio)
    assert (history.has_add_permission, history.has_change_permission, history.has_delete_permission) == (
        False,
        False,
        False,
    )
    assert "user:alice" in page.content.decode()


def test_change_form_edits_timecodes_at_the_project_rate(admin_client: Client, shots: dict[str, Shot]) -> None:
    shot = shots["002"]
    page = admin_client.get(change_url(shot))
    data = {**form_data(page), "timeline_in": "00:00:01:00", "timeline_out": "00:00:02:12", "duration": "00:00:01:12"}
    assert admin_client.post(change_url(shot), data).status_code == 302
    shot.refresh_from_db()
    assert (shot.timeline_in, shot.timeline_out, shot.duration) == (25, 62, 37)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"timeline_in": "00:00:01:30"}, "timeline_in"),  # no frame 30 at 25 fps
        ({"timeline_in": "00:00:02:00", "timeline_out": "00:00:01:00"}, "timeline_out"),
        ({"timeline_in": "00:00:01:00", "timeline_out": "00:00:02:00", "duration": "00:00:05:00"}, "duration"),
        ({"nomenclature": "TST_00001"}, "nomenclature"),  # 001's
        ({"nomenclature": "bad name"}, "nomenclature"),
        ({"shot_number": "001"}, "shot_number"),
    ],
)
def test_change_form_rejects_bad_data(
    admin_client: Client, shots: dict[str, Shot], changes: dict[str, str], field: str
) -> None:
    shot = shots["002"]
    response = admin_client.post(change_url(shot), {**form_data(admin_client.get(change_url(shot))), **changes})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors


def test_change_form_offers_the_status_actions_for_this_shot(admin_client: Client, shots: dict[str, Shot]) -> None:
    content = admin_client.get(change_url(shots["001"])).content.decode()
    assert 'value="move_to"' in content
    assert 'value="force_status"' in content
    response = act(admin_client, "move_to", [shots["001"]])
    assert [value for value, _ in response.context["form"].fields["to_status"].choices] == ["sources_verified"]
    without_force = staff_client("view_shot", "change_shot").get(change_url(shots["001"])).content.decode()
    assert 'value="move_to"' in without_force
    assert 'value="force_status"' not in without_force


def test_shots_cannot_be_added_or_deleted(admin_client: Client, shots: dict[str, Shot]) -> None:
    assert admin_client.get(reverse("admin:shots_shot_add")).status_code == 403
    assert admin_client.get(reverse("admin:shots_shot_delete", args=[shots["001"].pk])).status_code == 403


@pytest.mark.parametrize("model", ["project", "scene", "sourcefile"])
def test_other_changelists_render(admin_client: Client, shots: dict[str, Shot], model: str) -> None:
    response = admin_client.get(reverse(f"admin:shots_{model}_changelist"), {"q": "a"})
    assert response.status_code == 200


# --- exports ---------------------------------------------------------------------------------


def test_export_action_downloads_the_selection(admin_client: Client, shots: dict[str, Shot]) -> None:
    selection = [shots["001"], shots["004"], shots["005"]]
    response = act(admin_client, "export_production_csv", selection)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="TST_production.csv"'
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    project = Project.objects.get()
    assert response.content == exports.production_csv(project, Shot.objects.filter(pk__in=[s.pk for s in selection]))
    # The selection is explicit: the omitted 004 is in it.
    assert [line.split(",")[1] for line in response.content.decode("utf-8-sig").splitlines()[1:]] == [
        "001",
        "004",
        "005",
    ]


def test_scene_json_action_downloads_a_zip(admin_client: Client, shots: dict[str, Shot]) -> None:
    response = act(admin_client, "export_scene_json", list(shots.values()))
    assert response["Content-Disposition"] == 'attachment; filename="TST_scenes.zip"'
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["scene_001_day.json", "scene_002_night.json"]


def test_export_refuses_a_selection_across_projects(admin_client: Client, shots: dict[str, Shot]) -> None:
    other = make_shot(make_project(code="OTHER"))
    response = act(admin_client, "export_ae_json", [shots["001"], other])
    assert response.status_code == 302
    assert message_texts(response) == ["Export shots of one project at a time."]


# --- the project's shot-tree template ----------------------------------------------------


def _project_form(project: Project, folder_template: str) -> dict[str, str]:
    return {
        "code": project.code,
        "name": project.name,
        "fps": str(project.fps),
        "naming_templates": "[]",
        "frameio_project_id": "",
        "frameio_root_folder_id": "",
        "folder_template": folder_template,
    }


def test_project_admin_saves_a_folder_template_and_shows_the_default(admin_client: Client, settings) -> None:
    project = make_project()
    url = reverse("admin:shots_project_change", args=[project.pk])
    page = admin_client.get(url)
    assert f'placeholder="{settings.POSTFLOW_SHOT_TREE_TEMPLATE}"' in page.content.decode()
    response = admin_client.post(url, _project_form(project, "{project}/{shot}/{comp,renders}"))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.folder_template == "{project}/{shot}/{comp,renders}"


def test_project_admin_refuses_a_bad_folder_template_with_the_reason(admin_client: Client) -> None:
    project = make_project()
    url = reverse("admin:shots_project_change", args=[project.pk])
    response = admin_client.post(url, _project_form(project, "{project}/../{shot}"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["folder_template"] == [
        "in '{project}/../{shot}', the folder name '..' is only dots"
    ]
    project.refresh_from_db()
    assert project.folder_template == ""
