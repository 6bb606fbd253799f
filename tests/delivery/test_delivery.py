"""Delivery end to end on real files: copied, re-read, sealed with an ASC MHL manifest that the ascmhl package
verifies, the shot moved to final_delivery; and each bad case, with nothing moved."""

import contextlib
import errno
import json

import click
import pytest
import xxhash
from ascmhl import commands
from django.core.management import CommandError, call_command

from delivery import batches
from delivery.models import DeliveredFile, Delivery
from delivery.services import DeliveryRootError
from ingest.models import Render
from shots.models import Shot, ShotEvent
from shots.services import shot_force_status, shot_transition
from shots.workflow import Status
from tests.delivery.conftest import MOVIE, mhl, mhl_verify, read_only
from tests.ingest.media import make_clip

SHOT_FOLDER = "UNDLM/01/UNDLM_00042"


def deliver(*shots, **kwargs):
    chosen = list(Shot.objects.filter(pk__in=[s.pk for s in shots])) if shots else None
    if chosen is None:
        chosen = list(Shot.objects.filter(status=Status.REVIEW_APPROVED))
    return batches.deliver_shots(chosen, **kwargs)


def xxh(path) -> str:
    return xxhash.xxh3_128(path.read_bytes()).hexdigest()


def final_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_a_movie_is_delivered_verified_sealed_and_the_shot_moves(shot, root, delivery_root, approved_movie):
    delivery = Delivery.objects.get(shot=shot)
    assert (delivery.state, delivery.version, delivery.approved_by) == ("pending", 1, "user:ana")
    assert delivery.approved_checksum == xxh(root / MOVIE)  # recorded at the moment of approval

    report = deliver(shot)

    [outcome] = report.outcomes
    assert (outcome.result, outcome.copied, outcome.kept, outcome.error) == ("delivered", 1, 0, "")
    folder = delivery_root / SHOT_FOLDER
    assert final_files(folder) == ["UNDLM_00042_v001.mov"]
    assert xxh(folder / "UNDLM_00042_v001.mov") == xxh(root / MOVIE)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.folder, delivery.files) == ("delivered", SHOT_FOLDER, 1)
    assert delivery.manifest.startswith(f"{SHOT_FOLDER}/ascmhl/0001_UNDLM_00042_") and delivery.manifest.endswith(
        ".mhl"
    )
    assert "xxh128" in (delivery_root / delivery.manifest).read_text()
    [file] = DeliveredFile.objects.filter(delivery=delivery)
    assert (file.path, file.source, file.checksum) == ("UNDLM_00042_v001.mov", MOVIE, delivery.approved_checksum)
    # The shot moved, by `delivery`, the event naming the manifest.
    shot.refresh_from_db()
    assert shot.status == Status.FINAL_DELIVERY
    event = ShotEvent.objects.filter(shot=shot, to_status=Status.FINAL_DELIVERY).get()
    assert event.actor == "delivery" and delivery.manifest in event.reason
    assert event.details["manifest"] == delivery.manifest
    # The package's own verification: a second generation re-hashes and verifies every file...
    mhl_verify(folder)
    # ...and a tampered copy fails it.
    (folder / "UNDLM_00042_v001.mov").write_bytes(b"tampered")
    with pytest.raises(click.ClickException) as failed:
        mhl(commands.create, folder)
    assert type(failed.value).__name__ == "VerificationFailedException"


def test_a_sequence_is_delivered_frame_by_frame(shot, root, delivery_root, approved_sequence):
    report = deliver(shot)

    [outcome] = report.outcomes
    assert (outcome.result, outcome.files, outcome.copied) == ("delivered", 50, 50)
    folder = delivery_root / SHOT_FOLDER
    names = final_files(folder)
    assert names[0] == "UNDLM_00042_v002.1001.png" and names[-1] == "UNDLM_00042_v002.1050.png" and len(names) == 50
    for frame in (1001, 1025, 1050):
        source = root / f"renders/review/UNDLM_00042_v002.{frame}.png"
        assert xxh(folder / f"UNDLM_00042_v002.{frame}.png") == xxh(source)
    assert DeliveredFile.objects.filter(delivery__shot=shot).count() == 50
    mhl_verify(folder)
    (folder / "UNDLM_00042_v002.1010.png").unlink()
    with pytest.raises(click.ClickException) as failed:
        mhl(commands.diff, folder)
    assert type(failed.value).__name__ == "CompletenessCheckFailedException"


def test_delivering_again_is_a_no_op_while_the_files_match_the_manifest(shot, delivery_root, approved_movie):
    deliver(shot)
    folder = delivery_root / SHOT_FOLDER
    before = sorted((folder / "ascmhl").iterdir())
    mtime = (folder / "UNDLM_00042_v001.mov").stat().st_mtime_ns

    [again] = deliver(shot).outcomes

    assert again.result == "unchanged" and again.error == ""
    assert sorted((folder / "ascmhl").iterdir()) == before  # no new generation
    assert (folder / "UNDLM_00042_v001.mov").stat().st_mtime_ns == mtime
    assert Delivery.objects.count() == 1
    assert ShotEvent.objects.filter(shot=shot, to_status=Status.FINAL_DELIVERY).count() == 1
    # Once a delivered file no longer matches its manifest, delivering again says so, naming it.
    (folder / "UNDLM_00042_v001.mov").write_bytes(b"not the render")
    report = deliver(shot)
    assert report.failed and report.outcomes[0].result == "mismatch"
    assert "UNDLM_00042_v001.mov: xxh128" in report.outcomes[0].error


class Interrupted(BaseException):
    """What a killed process looks like to the code that was running: nothing after it runs."""


def test_an_interrupted_copy_resumes_and_never_leaves_a_partial_under_the_final_name(
    shot, root, delivery_root, approved_sequence
):
    written = []

    def dies_during_frame_six(handle, chunk):
        if len(written) == 5:
            handle.write(chunk[: len(chunk) // 2])
            raise Interrupted
        written.append(len(chunk))
        handle.write(chunk)

    with pytest.raises(Interrupted):
        deliver(shot, write=dies_during_frame_six)

    folder = delivery_root / SHOT_FOLDER
    finals = [n for n in final_files(folder) if ".partial-" not in n]
    partials = [n for n in final_files(folder) if ".partial-" in n]
    assert finals == [f"UNDLM_00042_v002.{f}.png" for f in range(1001, 1006)]
    assert len(partials) == 1 and partials[0].startswith("UNDLM_00042_v002.1006.png.partial-")
    assert not (folder / "UNDLM_00042_v002.1006.png").exists()
    assert Delivery.objects.get(shot=shot).state == Delivery.State.COPYING
    assert Shot.objects.get(pk=shot.pk).status == Status.REVIEW_APPROVED

    [outcome] = deliver(shot).outcomes

    assert (outcome.result, outcome.kept, outcome.copied) == ("delivered", 5, 45)
    assert not [n for n in final_files(folder) if ".partial-" in n]
    assert len(final_files(folder)) == 50
    mhl_verify(folder)


def test_a_copy_that_reads_back_differently_fails_naming_the_file_and_moves_nothing(
    shot, delivery_root, approved_movie
):
    def corrupts(handle, chunk):
        handle.write(bytes([chunk[0] ^ 0xFF]) + chunk[1:])

    report = deliver(shot, write=corrupts)

    [outcome] = report.outcomes
    assert outcome.result == "failed" and report.failed
    assert "UNDLM_00042_v001.mov" in outcome.error and "reads back as xxh128" in outcome.error
    folder = delivery_root / SHOT_FOLDER
    assert final_files(folder) == [] and not (folder / "ascmhl").exists()
    delivery = Delivery.objects.get(shot=shot)
    assert delivery.state == Delivery.State.FAILED and "UNDLM_00042_v001.mov" in delivery.error
    assert Shot.objects.get(pk=shot.pk).status == Status.REVIEW_APPROVED
    # Fixed (here: an honest writer), the next run delivers it.
    assert deliver(shot).outcomes[0].result == "delivered"


def test_a_full_disk_mid_copy_fails_the_delivery_and_takes_back_what_it_placed(shot, delivery_root, approved_sequence):
    written = []

    def fills_up(handle, chunk):
        if len(written) == 5:  # five frames fit, then the disk is full in the middle of the sixth
            handle.write(chunk[: len(chunk) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(chunk)
        handle.write(chunk)

    [outcome] = deliver(shot, write=fills_up).outcomes

    assert outcome.result == "failed"
    assert "UNDLM_00042_v002.1006.png: no space left" in outcome.error
    folder = delivery_root / SHOT_FOLDER
    assert final_files(folder) == []  # neither the frames that fitted nor a partial
    assert Shot.objects.get(pk=shot.pk).status == Status.REVIEW_APPROVED
    assert Delivery.objects.get(shot=shot).state == Delivery.State.FAILED


@pytest.mark.parametrize("problem", ["missing", "read-only"])
def test_a_missing_or_read_only_delivery_folder_is_one_clear_error_and_nothing_moves(
    shot, delivery_root, approved_movie, problem, settings
):
    if problem == "missing":
        settings.POSTFLOW_DELIVERY_PATH = delivery_root / "not-mounted"
        unusable, message = contextlib.nullcontext(), "does not exist .*POSTFLOW_DELIVERY_PATH"
    else:
        unusable, message = read_only(delivery_root), "is not writable"
    with unusable:
        with pytest.raises(DeliveryRootError, match=message):
            deliver(shot)
        with pytest.raises(CommandError) as error:  # the command says it in one line, exit status 1
            call_command("deliver")
    assert error.value.returncode == 1 and "\n" not in str(error.value)
    assert list(delivery_root.iterdir()) == []
    assert Delivery.objects.get(shot=shot).state == Delivery.State.PENDING
    assert Shot.objects.get(pk=shot.pk).status == Status.REVIEW_APPROVED


def test_a_render_rewritten_since_approval_is_refused(shot, root, delivery_root, approved_movie):
    source = root / MOVIE
    data = bytearray(source.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: only the hash can tell
    source.write_bytes(bytes(data))

    [outcome] = deliver(shot).outcomes

    assert outcome.result == "failed"
    assert MOVIE in outcome.error and "changed since approval" in outcome.error
    assert final_files(delivery_root / SHOT_FOLDER) == []
    assert Shot.objects.get(pk=shot.pk).status == Status.REVIEW_APPROVED


def test_a_render_verified_again_with_other_content_is_refused(
    shot, root, delivery_root, approved_movie, watcher, clock
):
    make_clip(root / "other.mov", frames=51).replace(root / MOVIE)
    for _ in range(3):  # the watcher sees the change, settles and verifies the new file
        clock.advance(120)
        watcher.tick_committed(full=True)
    assert Render.objects.get(path=MOVIE).checksum != Delivery.objects.get(shot=shot).approved_checksum

    [outcome] = deliver(shot).outcomes

    assert outcome.result == "failed" and "the render changed since approval" in outcome.error
    assert not (delivery_root / SHOT_FOLDER).exists()


def test_a_frame_missing_since_approval_fails_naming_it(shot, root, delivery_root, approved_sequence):
    (root / "renders/review/UNDLM_00042_v002.1012.png").unlink()

    [outcome] = deliver(shot).outcomes

    assert outcome.result == "failed"
    assert "frame 1012 (renders/review/UNDLM_00042_v002.1012.png): missing since approval" in outcome.error
    assert not (delivery_root / SHOT_FOLDER).exists()  # checked before anything is copied
    assert Shot.objects.get(pk=shot.pk).status == Status.REVIEW_APPROVED


def test_a_shot_sent_back_keeps_its_delivery_which_the_next_one_supersedes(
    shot, root, delivery_root, approved_movie, approve
):
    deliver(shot)
    first = Delivery.objects.get(shot=shot)
    shot_force_status(shot_id=shot.pk, to_status=Status.REVISION_REQUESTED, actor="user:ana", reason="client notes")
    make_clip(root / "renders/review/UNDLM_00042_v003.mov", frames=49)
    approve(shot, "renders/review/UNDLM_00042_v003.mov")

    [outcome] = deliver(shot).outcomes

    assert outcome.result == "delivered" and outcome.version == 3
    second = Delivery.objects.get(shot=shot, version=3)
    first.refresh_from_db()
    assert (first.state, first.superseded_by, first.superseded_at is not None) == ("delivered", second, True)
    folder = delivery_root / SHOT_FOLDER
    assert final_files(folder) == ["UNDLM_00042_v001.mov", "UNDLM_00042_v003.mov"]  # the old one stays
    assert second.manifest.startswith(f"{SHOT_FOLDER}/ascmhl/0002_")
    mhl_verify(folder)


def test_a_shot_sent_back_while_its_files_copy_is_not_recorded_as_delivered(shot, delivery_root, approved_movie):
    def sent_back_meanwhile(handle, chunk):
        if Shot.objects.get(pk=shot.pk).status == Status.REVIEW_APPROVED:
            shot_force_status(shot_id=shot.pk, to_status=Status.REVISION_REQUESTED, actor="user:ana", reason="notes")
        handle.write(chunk)

    [outcome] = deliver(shot, write=sent_back_meanwhile).outcomes

    assert outcome.result == "skipped" and "cancelled while it was being copied" in outcome.error
    delivery = Delivery.objects.get(shot=shot)
    assert delivery.state == Delivery.State.CANCELLED and not delivery.delivered_files.exists()
    assert Shot.objects.get(pk=shot.pk).status == Status.REVISION_REQUESTED


def test_a_shot_sent_back_before_delivery_is_not_delivered(shot, delivery_root, approved_movie):
    shot_transition(shot_id=shot.pk, to_status=Status.REVISION_REQUESTED, actor="frameio")

    report = deliver(shot)

    assert report.outcomes[0].result == "skipped"
    delivery = Delivery.objects.get(shot=shot)
    assert delivery.state == Delivery.State.CANCELLED and "revision_requested" in delivery.error
    assert list(delivery_root.iterdir()) == []


def test_a_frameio_approval_records_the_version_it_was_set_on(shot, root, delivery_root, approved_movie, approve):
    make_clip(root / "renders/review/UNDLM_00042_v004.mov", frames=50)
    approve(shot, "renders/review/UNDLM_00042_v004.mov")  # v4 verified, the latest
    shot_transition(shot_id=shot.pk, to_status=Status.REVISION_REQUESTED, actor="frameio")
    shot_transition(shot_id=shot.pk, to_status=Status.REVIEW_UPLOADED, actor="frameio")
    # Frame.io's Status set on v1 (status_apply names it in the event's details).
    shot_transition(shot_id=shot.pk, to_status=Status.REVIEW_APPROVED, actor="frameio", details={"version": 1})

    open_delivery = Delivery.objects.get(shot=shot, state=Delivery.State.PENDING)
    assert (open_delivery.version, open_delivery.approved_by) == (1, "frameio")
    # v1's first approval, cancelled by v4's; v4's, cancelled when the shot was sent back.
    assert Delivery.objects.filter(shot=shot, state=Delivery.State.CANCELLED).count() == 2


def test_dry_run_lists_what_would_be_copied_and_copies_nothing(shot, delivery_root, approved_sequence, capsys):
    call_command("deliver", "--dry-run")

    out = capsys.readouterr().out
    assert "would copy UNDLM_00042 v002: 50 file(s)" in out and f"to {SHOT_FOLDER}" in out
    assert f"renders/review/UNDLM_00042_v002.1001.png -> {SHOT_FOLDER}/UNDLM_00042_v002.1001.png" in out
    assert "… and 30 more" in out
    assert list(delivery_root.iterdir()) == []
    assert Delivery.objects.get(shot=shot).state == Delivery.State.PENDING


def test_the_command_prints_json_and_exits_1_on_a_failure_2_on_bad_arguments(
    shot, root, delivery_root, approved_movie, capsys
):
    call_command("deliver", "--shot", "UNDLM_00042", "--json")
    result = json.loads(capsys.readouterr().out)
    assert (result["delivered"], result["failed"], result["dry_run"]) == (1, 0, False)
    [entry] = result["deliveries"]
    assert (entry["shot"], entry["version"], entry["result"], entry["folder"]) == (
        "UNDLM_00042",
        1,
        "delivered",
        SHOT_FOLDER,
    )
    assert entry["manifest"].endswith(".mhl") and entry["files"] == 1

    (delivery_root / SHOT_FOLDER / "UNDLM_00042_v001.mov").write_bytes(b"x")
    with pytest.raises(CommandError) as failed:
        call_command("deliver", "--scene", "1", "--json")
    assert failed.value.returncode == 1
    assert json.loads(capsys.readouterr().out)["mismatch"] == 1

    for args in (["--shot", "UNDLM_99999"], ["--scene", "7"], ["--project", "NOPE"]):
        with pytest.raises(CommandError) as bad:
            call_command("deliver", *args)
        assert bad.value.returncode == 2


def test_one_shot_failing_does_not_stop_the_others(shot, root, delivery_root, approve):
    other = Shot.objects.get(nomenclature="UNDLM_00041")
    make_clip(root / "renders/review/UNDLM_00041_v001.mov", frames=50)
    make_clip(root / MOVIE, frames=50)
    approve(other, "renders/review/UNDLM_00041_v001.mov")
    approve(shot, MOVIE)
    (root / MOVIE).unlink()

    report = deliver()

    results = {o.shot: o.result for o in report.outcomes}
    assert results == {"UNDLM_00041": "delivered", "UNDLM_00042": "failed"}
    assert Shot.objects.get(pk=other.pk).status == Status.FINAL_DELIVERY


def test_a_folder_another_run_is_delivering_into_is_left_to_it(shot, delivery_root, approved_movie):
    from delivery.services import folder_lock

    with folder_lock(delivery_root, SHOT_FOLDER):  # another run holds the folder
        [outcome] = deliver(shot).outcomes
    assert outcome.result == "busy" and "being delivered by another run" in outcome.error
    assert not (delivery_root / SHOT_FOLDER).exists()
    assert Delivery.objects.get(shot=shot).state == Delivery.State.PENDING
    assert deliver(shot).outcomes[0].result == "delivered"  # once it is free


def test_the_command_says_what_it_did_per_shot(shot, delivery_root, approved_movie, capsys):
    call_command("deliver")
    out = capsys.readouterr().out.splitlines()
    manifest = Delivery.objects.get(shot=shot).manifest
    assert (
        out[0]
        == f"delivered UNDLM_00042 v001: 1 file(s) in {SHOT_FOLDER}, manifest {manifest} (1 copied, 0 already there)"
    )
    assert out[1] == f"{delivery_root}: 1 delivered, 0 unchanged, 0 failed, 0 skipped"
    call_command("deliver", "--shot", "UNDLM_00042")
    assert capsys.readouterr().out.startswith(
        f"unchanged UNDLM_00042 v001: 1 file(s) in {SHOT_FOLDER}, manifest {manifest}\n"
    )


def test_the_history_folder_is_the_one_ascmhl_writes():
    # delivery.manifest names it without importing ascmhl at app load (memory of every process).
    from ascmhl.__version__ import ascmhl_folder_name

    from delivery import manifest

    assert ascmhl_folder_name == manifest.ASCMHL_FOLDER
