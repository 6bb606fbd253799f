"""Deliveries seen and told: the auto-delivery job, one message per batch, the template's check, the admin."""

import json
import re
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from alerts.models import OutboxMessage
from delivery import admin as delivery_admin
from delivery import batches, jobs, naming, tasks
from delivery.models import Delivery
from delivery.services import folder_lock
from shots.models import Shot, ShotEvent
from shots.services import shot_force_status
from shots.workflow import Status
from tests.dashboard.test_dashboard import user_client
from tests.delivery.conftest import DISCORD, MOVIE
from tests.factories import make_scene
from tests.ingest.media import make_clip


@pytest.fixture
def delivery_jobs(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    monkeypatch.setattr(jobs, "async_task", lambda *args: calls.append(args))
    return calls


def test_auto_delivery_enqueues_one_job_on_approval_and_the_job_is_safe_twice(
    shot, root, delivery_root, approve, delivery_jobs, settings
):
    settings.POSTFLOW_AUTO_DELIVER = True
    make_clip(root / MOVIE, frames=50)
    approve(shot, MOVIE)
    delivery = Delivery.objects.get(shot=shot)
    assert delivery_jobs == [("delivery.tasks.deliver", delivery.pk)]

    result = tasks.deliver(delivery.pk)

    assert result["delivered"] == 1
    assert Shot.objects.get(pk=shot.pk).status == Status.FINAL_DELIVERY
    assert tasks.deliver(delivery.pk) is None  # a second run finds it delivered: nothing happens
    assert ShotEvent.objects.filter(shot=shot, to_status=Status.FINAL_DELIVERY).count() == 1


def test_without_auto_delivery_an_approval_enqueues_nothing(shot, root, delivery_root, delivery_jobs, approved_movie):
    # delivery_jobs first: the queue is watched before the approval happens.
    assert delivery_jobs == []
    assert Delivery.objects.get(shot=shot).state == Delivery.State.PENDING


def test_one_message_per_batch_per_scene_with_the_manifests_and_the_failures(
    shot, root, delivery_root, approve, settings
):
    settings.DISCORD_WEBHOOK_URL = DISCORD
    settings.ALERT_EMAILS = ["prod@example.com"]
    other = Shot.objects.get(nomenclature="UNDLM_00041")
    Shot.objects.filter(pk=other.pk).update(scene=make_scene(shot.project, "NUIT", number=4))
    third = Shot.objects.create(
        project=shot.project, scene=shot.scene, shot_number="043", nomenclature="UNDLM_00043", duration=50
    )
    for name in ("UNDLM_00041_v001.mov", "UNDLM_00042_v001.mov", "UNDLM_00043_v001.mov"):
        make_clip(root / "renders/review" / name, frames=50)
    for each in (other, shot, third):
        approve(each, f"renders/review/{each.nomenclature}_v001.mov")
    (root / "renders/review/UNDLM_00043_v001.mov").unlink()

    report = batches.deliver_shots(Shot.objects.filter(status=Status.REVIEW_APPROVED).order_by("pk"))

    assert sorted(o.result for o in report.outcomes) == ["delivered", "delivered", "failed"]
    [discord] = OutboxMessage.objects.filter(channel=OutboxMessage.Channel.DISCORD, kind="deliveries")
    [mail] = OutboxMessage.objects.filter(channel=OutboxMessage.Channel.EMAIL, kind="deliveries")
    embed = discord.payload["embeds"][0]
    assert embed["title"] == "2 shots delivered, 1 failed"
    lines = embed["description"].splitlines()
    manifests = {d.shot.nomenclature: d.manifest for d in Delivery.objects.filter(state="delivered")}
    assert lines[0] == f"Scene 01: 1 shot delivered, manifest {manifests['UNDLM_00042']}"
    assert lines[1] == f"Scene 04: 1 shot delivered, manifest {manifests['UNDLM_00041']}"
    assert lines[2].startswith("✗ UNDLM_00043 v001: ") and "missing since approval" in lines[2]
    assert mail.payload["subject"] == "[postflow] 2 shots delivered, 1 failed" and lines[0] in mail.payload["body"]
    # A run that delivers nothing new says nothing.
    batches.deliver_shots(Shot.objects.filter(pk=shot.pk))
    assert OutboxMessage.objects.filter(kind="deliveries").count() == 2


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{project}/{nomenclature}.{ext}", "needs {version}"),
        ("{project}/{scene}/v{version}.{ext}", "needs {nomenclature} or {shot}"),
        ("{project}/{nomenclature}_v{version}.mov", "must end with .{ext}"),
        ("{project}/{nomenclature}_v{take}.{ext}", "unknown placeholder {take}"),
        ("{nomenclature}_v{version}.{ext}", "a folder of its own"),
        ("/abs/{nomenclature}_v{version}.{ext}", "relative to POSTFLOW_DELIVERY_PATH"),
        ("{project}/../{nomenclature}_v{version}.{ext}", "is only dots"),
    ],
)
def test_a_template_that_cannot_work_is_refused_with_the_reason(template, reason, settings):
    with pytest.raises(naming.TemplateError, match=re.escape(reason)):
        naming.check(template)
    settings.POSTFLOW_DELIVERY_TEMPLATE = template
    with pytest.raises(SystemCheckError, match=r"delivery\.E001"):
        call_command("check")


def test_a_template_of_its_own_and_a_scene_name_that_would_escape(shot, root, delivery_root, approved_movie, settings):
    settings.POSTFLOW_DELIVERY_TEMPLATE = "{project}/{scene_name}/{shot:0>5}/v{version}/{nomenclature}.{ext}"
    [outcome] = batches.deliver_shots([Shot.objects.get(pk=shot.pk)], dry_run=True).outcomes
    assert outcome.folder == "UNDLM/REVEIL HOPITAL - JOUR/00042/v001"
    shot.scene.name = "../../etc"
    shot.scene.save()
    [outcome] = batches.deliver_shots([Shot.objects.get(pk=shot.pk)]).outcomes
    assert outcome.result == "failed" and "contains a path separator" in outcome.error
    assert list(delivery_root.iterdir()) in ([], [delivery_root / ".postflow-locks"])


def test_the_admin_lists_deliveries_read_only(shot, root, delivery_root, approved_movie, admin_client):
    batches.deliver_shots([Shot.objects.get(pk=shot.pk)])
    delivery = Delivery.objects.get(shot=shot)
    listing = admin_client.get(reverse("admin:delivery_delivery_changelist"))
    assert listing.status_code == 200 and "UNDLM_00042" in listing.content.decode()
    page = admin_client.get(reverse("admin:delivery_delivery_change", args=[delivery.pk]))
    assert page.status_code == 200 and "UNDLM_00042_v001.mov" in page.content.decode()
    assert admin_client.get(reverse("admin:delivery_delivery_add")).status_code == 403


def test_a_deliverys_page_lists_its_own_files_first(shot, root, delivery_root, approved_movie, approve, admin_client,
                                                     monkeypatch):  # fmt: skip
    monkeypatch.setattr(delivery_admin, "FILES_SHOWN", 1)  # an earlier delivery's file must not take the slot
    batches.deliver_shots([Shot.objects.get(pk=shot.pk)])
    shot_force_status(shot_id=shot.pk, to_status=Status.REVISION_REQUESTED, actor="user:ana", reason="notes")
    make_clip(root / "renders/review/UNDLM_00042_v003.mov", frames=49)
    approve(shot, "renders/review/UNDLM_00042_v003.mov")
    batches.deliver_shots([Shot.objects.get(pk=shot.pk)])
    second = Delivery.objects.get(shot=shot, version=3)

    page = admin_client.get(reverse("admin:delivery_delivery_change", args=[second.pk])).content.decode()

    rows = re.findall(r'<td class="field-path">\s*<p>([^<]*)</p>', page, flags=re.S)  # the inline's rows
    assert [row for row in rows if row != "-"] == ["UNDLM_00042_v003.mov"]  # "-": the blank template row


def test_the_dashboard_shows_delivered_out_of_approved_per_scene(shot, root, delivery_root, approve):
    other = Shot.objects.get(nomenclature="UNDLM_00041")
    for each in (shot, other):
        make_clip(root / f"renders/review/{each.nomenclature}_v001.mov", frames=50)
        approve(each, f"renders/review/{each.nomenclature}_v001.mov")
    batches.deliver_shots([Shot.objects.get(pk=shot.pk)])

    html = user_client().get(reverse("dashboard:index")).content.decode()

    scene = shot.scene_id
    assert f'<td class="num" data-delivery="{scene}"><span data-delivered="{scene}">1</span> / ' in html
    assert f'<span data-approved="{scene}">2</span>' in html


def test_postflow_report_has_a_deliveries_section(shot, root, delivery_root, approved_movie, settings, tmp_path):
    batches.deliver_shots([Shot.objects.get(pk=shot.pk)])
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("postflow_report", "--since", "1h", "--json", stdout=out)
    section = json.loads(out.getvalue())["deliveries"]
    size = (root / MOVIE).stat().st_size
    assert (section["delivered"], section["files"], section["bytes"], section["failed"]) == (1, 1, size, 0)
    text = StringIO()
    call_command("postflow_report", "--since", "1h", stdout=text)
    assert "Deliveries\n  delivered 1 (1 files" in text.getvalue()


def test_the_job_waits_for_a_folder_another_run_holds(shot, root, delivery_root, approved_movie):
    delivery = Delivery.objects.get(shot=shot)
    release = threading.Event()
    held = threading.Event()

    def other_run():
        with folder_lock(delivery_root, "UNDLM/01/UNDLM_00042"):
            held.set()
            release.wait(5)

    holder = threading.Thread(target=other_run)
    holder.start()
    held.wait(5)
    threading.Timer(0.3, release.set).start()
    result = tasks.deliver(delivery.pk)  # blocks until the other run lets go, then delivers
    holder.join()
    assert result["delivered"] == 1 and result["busy"] == 0
