"""A rush that shots were verified against, changed afterwards: the sources check says so, the alert opens
at once (ingest.signals.source_changed), the `source_changed` rule keeps it open and resolves it."""

import os

import pytest

from alerts.models import Alert
from alerts.rules import RULES
from alerts.services import alerts_evaluate
from ingest.models import SourceClip
from ingest.sources import verify_sources
from postflow.lib.timecode import timecode_to_frames
from shots.workflow import Status
from tests.alerts.conftest import discord_messages
from tests.factories import make_project, make_shot, make_source
from tests.ingest.media import make_clip

pytestmark = pytest.mark.django_db


def test_a_changed_source_opens_its_alert_at_once_and_resolves_once_accepted(
    tmp_path, settings, discord, django_capture_on_commit_callbacks
):
    settings.POSTFLOW_RUSHES_PATH = tmp_path
    project = make_project(code="UNDLM", fps=25)
    clip = make_clip(tmp_path / "day1" / "A001C003.mov", frames=50, timecode="01:00:10:00")
    shot = make_shot(
        project,
        source=make_source(project, "A001C003.mov"),
        source_in=timecode_to_frames("01:00:10:00", 25),
        source_out=timecode_to_frames("01:00:11:00", 25),
    )
    verify_sources()
    before = clip.stat().st_mtime_ns
    make_clip(clip, frames=60, timecode="01:00:10:00")
    os.utime(clip, ns=(before + 10**9, before + 10**9))

    with django_capture_on_commit_callbacks(execute=True):
        verify_sources()
        verify_sources()  # found again: the same alert, not a second one

    record = SourceClip.objects.get()
    [alert] = Alert.objects.all()
    assert (alert.key, alert.rule, alert.state, alert.notified) == (
        f"sources.changed:{record.pk}",
        "source_changed",
        Alert.State.OPEN,
        True,
    )
    assert alert.title == "Source changed: A001C003.mov"
    assert "day1/A001C003.mov changed since it was verified" in alert.detail
    assert [m.dedupe_key for m in discord_messages()] == [f"discord:alerts:{alert.pk}:opened"]
    shot.refresh_from_db()
    assert shot.status == Status.SOURCES_VERIFIED

    [rule] = [r for r in RULES if r.name == "source_changed"]
    assert alerts_evaluate(rules=[rule], sample=False).firing == [alert.key]
    verify_sources(accept_changed=True)  # 60 frames still hold the shot: taken as the new reference
    assert alerts_evaluate(rules=[rule], sample=False).resolved == [alert.key]
