"""Review proxies on real files: a 3-second PNG sequence (Pillow) seen by the watcher, its proxy built by the
job, decoded again with PyAV; crashes mid-encode, a dead worker's lease, the rules, the burn-in."""

import os
from fractions import Fraction
from pathlib import Path

import pytest
import xxhash
from django.urls import reverse
from django.utils import timezone
from PIL import Image, ImageChops, ImageStat

from ingest import proxies, services
from ingest.models import Render, ReviewProxy
from ingest.proxy_media import BOX_OPACITY, BurnIn, _Painter, encode_proxy, proxy_size, sequence_frames
from ingest.rules import RuleError, parse_proxy_rules, wants_proxy
from ingest.selectors import PROXY_FOLDER, proxy_folder, review_file
from ingest.services import PROXY_FAILED, PROXY_WAITING, WatchConfig, render_check_unchanged
from ingest.watcher import Watcher
from postflow.lib import shutdown
from postflow.models import LiveEvent
from shots.workflow import Status
from tests.concurrency import race
from tests.factories import make_project, make_scene, make_shot
from tests.ingest.media import decoded_frames, frame_colour, make_clip, make_sequence, write_still
from tests.ingest.test_watcher import SETTLE, FakeClock, scan_across_the_settle_window

FIRST, FRAMES = 1001, 75  # 3 seconds at 25 fps
KEY = "renders/review/UNDLM_00042_v003.####.png"
PROXY_WIDTH = 320  # the 640x360 frames are capped to 320x180


@pytest.fixture
def shot(db):
    """UNDLM_00042: 75 frames, record in 10:00:00:00 at 25 fps."""
    project = make_project(code="UNDLM", fps=25)
    scene = make_scene(project, "REVEIL HOPITAL - JOUR", number=1)
    return make_shot(
        project,
        scene=scene,
        shot_number="042",
        nomenclature="UNDLM_00042",
        duration=FRAMES,
        timeline_in=900_000,
        timeline_out=900_000 + FRAMES,
        status=Status.AE_COMPLETED,
    )


@pytest.fixture
def root(tmp_path, settings) -> Path:
    settings.POSTFLOW_PROXY_WIDTH = PROXY_WIDTH
    settings.POSTFLOW_PROXY_PATH = ""
    return tmp_path / "mount"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_watcher(root: Path, clock: FakeClock, capture, proxy_for: tuple[str, ...] = ("sequence",)) -> Watcher:
    config = WatchConfig(
        root=root,
        settle_seconds=SETTLE,
        templates=["{project}_{shot}_v{version}"],
        extensions=frozenset({"mov", "mp4"}),
        tolerance_frames=2,
        proxy_rules=parse_proxy_rules(list(proxy_for)),
    )
    watcher = Watcher(config, clock=clock, full_scan_seconds=300)

    def tick(**kwargs):
        with capture(execute=True):
            return watcher.tick(**kwargs)

    watcher.tick_committed = tick
    return watcher


@pytest.fixture
def watcher(root, clock, django_capture_on_commit_callbacks) -> Watcher:
    return make_watcher(root, clock, django_capture_on_commit_callbacks)


@pytest.fixture
def verified(shot, root, watcher, clock, enqueued) -> Render:
    """The 75-frame sequence, seen, settled and verified by the watcher: waiting for its proxy."""
    make_sequence(root / "renders/review", "UNDLM_00042_v003", range(FIRST, FIRST + FRAMES))
    scan_across_the_settle_window(watcher, clock)
    render = Render.objects.get(path=KEY)
    assert render.state == Render.State.VERIFIED and render.proxy.state == ReviewProxy.State.PENDING
    assert enqueued == [("ingest.tasks.build_proxy", render.pk)]
    return render


def build(render: Render, capture, **kwargs) -> ReviewProxy:
    """The proxy job, run here, its on-commit effects (the upload job) run too."""
    with capture(execute=True):
        return proxies.proxy_build(render_id=render.pk, **kwargs)


def final_path(root: Path) -> Path:
    return root / "renders/review" / PROXY_FOLDER / "UNDLM_00042_v003.mp4"


def leftovers(root: Path) -> list[Path]:
    return sorted((root / "renders/review" / PROXY_FOLDER).glob("*.partial"))


def mean_colour(image: Image.Image, box: tuple[int, int, int, int]) -> tuple[float, ...]:
    return tuple(ImageStat.Stat(image.crop(box)).mean)


def nearest_frame(colour: tuple[float, ...]) -> int:
    """The render frame whose flat colour is closest to `colour`."""
    numbers = range(FIRST, FIRST + FRAMES)
    return min(numbers, key=lambda n: sum((a - b) ** 2 for a, b in zip(colour, frame_colour(n), strict=False)))


# --- the sequence becomes a proxy --------------------------------------------------------------------


def test_a_sequence_becomes_an_h264_proxy_with_its_frames_rate_and_burn_in(
    verified, root, watcher, clock, enqueued, django_capture_on_commit_callbacks
):
    proxy = build(verified, django_capture_on_commit_callbacks)
    render = Render.objects.get(pk=verified.pk)
    assert proxy.state == ReviewProxy.State.READY and render.state == Render.State.QUEUED and render.reason == ""
    assert enqueued[-1] == ("frameio.tasks.upload_render", render.pk)  # queued for review like any render
    path = final_path(root)
    assert proxy.path == str(path) and leftovers(root) == []
    assert proxy.checksum == xxhash.xxh3_128(path.read_bytes()).hexdigest() and proxy.size == path.stat().st_size
    facts, images = decoded_frames(path)
    # Same frame count and rate as the render: Frame.io's frame N is the render's frame N.
    assert (facts["codec"], facts["pix_fmt"], facts["rate"], facts["frames"]) == ("h264", "yuv420p", 25, FRAMES)
    assert len(images) == FRAMES and (facts["width"], facts["height"]) == (PROXY_WIDTH, 180)
    assert (proxy.frames, proxy.fps, proxy.width, proxy.height) == (FRAMES, 25.0, PROXY_WIDTH, 180)
    # Each proxy frame is made from the render frame at its place (its flat colour, above the burn-in).
    assert [nearest_frame(mean_colour(image, (0, 0, PROXY_WIDTH, 100))) for image in images] == list(
        range(FIRST, FIRST + FRAMES)
    )
    # The burn-in: the bottom of proxy frame 37 is not the render's frame 37 scaled down; the top is.
    source = Image.open(root / f"renders/review/UNDLM_00042_v003.{FIRST + 36}.png").resize((PROXY_WIDTH, 180))
    bottom, top = (0, 150, PROXY_WIDTH, 180), (0, 0, PROXY_WIDTH, 100)
    assert max(ImageStat.Stat(ImageChops.difference(images[36].crop(bottom), source.crop(bottom))).mean) > 40
    assert max(ImageStat.Stat(ImageChops.difference(images[36].crop(top), source.crop(top))).mean) < 4
    # The upload sends the proxy, named after the shot and version.
    file = review_file(render)
    assert (file.path, file.name, file.size, file.checksum, file.is_proxy) == (
        path,
        "UNDLM_00042_v003.mp4",
        proxy.size,
        proxy.checksum,
        True,
    )
    assert render_check_unchanged(render_id=render.pk) == ""
    # Progress went out live, as upload progress does, ending at the last frame.
    progress = [e.payload for e in LiveEvent.objects.filter(kind="proxy.progress").order_by("id")]
    assert progress and progress[-1]["frames_done"] == progress[-1]["frames_total"] == FRAMES
    # The watcher never takes the proxy (a .mp4 in the hidden folder) for a render, on a full scan either.
    clock.advance(SETTLE)
    watcher.tick_committed(full=True)
    clock.advance(SETTLE)
    watcher.tick_committed(full=True)
    assert list(Render.objects.values_list("path", flat=True)) == [KEY]


def test_the_job_run_twice_encodes_once(verified, root, enqueued, django_capture_on_commit_callbacks):
    build(verified, django_capture_on_commit_callbacks)
    written = final_path(root).stat()
    again = build(verified, django_capture_on_commit_callbacks)
    assert again.state == ReviewProxy.State.READY and again.attempts == 1
    assert final_path(root).stat().st_mtime_ns == written.st_mtime_ns  # not encoded again
    assert [job for job in enqueued if job[0] == "frameio.tasks.upload_render"] == [
        ("frameio.tasks.upload_render", verified.pk)
    ]


def test_a_proxy_changed_on_disk_is_caught_before_the_upload(verified, root, django_capture_on_commit_callbacks):
    build(verified, django_capture_on_commit_callbacks)
    with open(final_path(root), "r+b") as handle:  # same size, one byte flipped, mtime put back
        stat = final_path(root).stat()
        handle.seek(stat.st_size // 2)
        byte = handle.read(1)
        handle.seek(stat.st_size // 2)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(final_path(root), ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert render_check_unchanged(render_id=verified.pk) == "its review proxy's checksum is not the one recorded"


# --- crashes -----------------------------------------------------------------------------------------


def test_a_crash_mid_encode_leaves_no_proxy_and_the_next_run_builds_it(
    verified, root, enqueued, django_capture_on_commit_callbacks
):
    def crash(done: int, total: int) -> None:
        if done == 30:
            raise RuntimeError("encoder crashed at frame 30")

    proxy = build(verified, django_capture_on_commit_callbacks, on_progress=crash)
    assert (proxy.state, proxy.attempts, proxy.last_error) == ("pending", 1, "encoder crashed at frame 30")
    assert not final_path(root).exists() and leftovers(root) == []  # no half proxy, under any name
    assert Render.objects.get(pk=verified.pk).state == Render.State.VERIFIED  # not queued for review
    assert review_file(verified).problem == "its review proxy is not ready"

    proxy = build(verified, django_capture_on_commit_callbacks)
    assert (proxy.state, proxy.attempts) == ("ready", 2) and final_path(root).exists()
    assert Render.objects.get(pk=verified.pk).state == Render.State.QUEUED


def test_a_dead_workers_proxy_is_taken_over_once_its_lease_ran_out(
    verified, root, enqueued, django_capture_on_commit_callbacks
):
    # A worker claimed it and was killed mid-encode: its lease stands, its temporary file is left behind.
    dead = services.proxy_claim(render_id=verified.pk, owner="render-box:4242:deadbeef", now=timezone.now())
    folder = proxy_folder(verified)
    folder.mkdir(parents=True)
    (folder / ".UNDLM_00042_v003.mp4.deadbeef.partial").write_bytes(b"\0" * 4096)
    assert dead.state == ReviewProxy.State.ENCODING

    # Another worker's job meanwhile: the lease is held, it encodes nothing.
    proxy = build(verified, django_capture_on_commit_callbacks)
    assert (proxy.state, proxy.lease_owner) == ("encoding", "render-box:4242:deadbeef")
    assert not final_path(root).exists()
    assert proxies.proxies_reconcile() == {"enqueued": 0, "requested": 0}

    # The lease runs out: the reconciler enqueues it, the job takes it over and removes the dead one's file.
    later = timezone.now() + services.PROXY_LEASE + services.PROXY_LEASE
    enqueued.clear()
    assert proxies.proxies_reconcile(now=later) == {"enqueued": 1, "requested": 0}
    assert enqueued == [("ingest.tasks.build_proxy", verified.pk)]
    ReviewProxy.objects.filter(pk=proxy.pk).update(lease_until=timezone.now())  # as time passed
    proxy = build(verified, django_capture_on_commit_callbacks)
    assert (proxy.state, proxy.attempts) == ("ready", 2)
    assert final_path(root).exists() and leftovers(root) == []


def test_new_content_while_encoding_is_not_queued(verified, root, enqueued, django_capture_on_commit_callbacks):
    def watcher_resets_the_render(done: int, total: int) -> None:
        if done == 10:
            Render.objects.filter(pk=verified.pk).update(state=Render.State.DISCOVERED, checksum="")

    proxy = build(verified, django_capture_on_commit_callbacks, on_progress=watcher_resets_the_render)
    assert proxy.state == ReviewProxy.State.ENCODING  # its next verification asks for a new one
    assert Render.objects.get(pk=verified.pk).state == Render.State.DISCOVERED
    assert "frameio.tasks.upload_render" not in [job[0] for job in enqueued]


def test_media_that_cannot_make_a_proxy_fails_it_with_the_reason(
    verified, root, enqueued, django_capture_on_commit_callbacks, monkeypatch, admin_client
):
    def unreadable(paths):
        raise proxies.MediaError("UNDLM_00042_v003.1001.png: unreadable image (broken PNG)")
        yield  # a generator, as the real one

    with monkeypatch.context() as patched:
        patched.setattr(proxies, "sequence_frames", unreadable)
        proxy = build(verified, django_capture_on_commit_callbacks)
    render = Render.objects.get(pk=verified.pk)
    assert (proxy.state, render.state) == ("failed", Render.State.VERIFIED)
    assert render.reason == f"{PROXY_FAILED}UNDLM_00042_v003.1001.png: unreadable image (broken PNG)"
    # A producer asks for it again in the admin: pending, its job enqueued, built.
    url = reverse("admin:ingest_reviewproxy_changelist")
    assert admin_client.get(url).status_code == 200
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "retry", "_selected_action": [proxy.pk]})
    assert enqueued == [("ingest.tasks.build_proxy", render.pk)]
    assert Render.objects.get(pk=render.pk).reason == PROXY_WAITING
    assert build(render, django_capture_on_commit_callbacks).state == ReviewProxy.State.READY


def test_a_failure_that_may_pass_is_tried_again_up_to_the_limit_then_fails_for_good(
    verified, root, enqueued, django_capture_on_commit_callbacks
):
    """The mount going away mid-encode (an OSError): pending again, the try counted, the partial file gone;
    at PROXY_MAX_ATTEMPTS the proxy fails with its reason on the render, and a job delivered after that
    does nothing."""

    def mount_goes_away(done: int, total: int) -> None:
        if done == 5:
            raise OSError("Transport endpoint is not connected")

    for attempt in range(1, services.PROXY_MAX_ATTEMPTS + 1):
        proxy = build(verified, django_capture_on_commit_callbacks, on_progress=mount_goes_away)
        expected = "failed" if attempt == services.PROXY_MAX_ATTEMPTS else "pending"
        assert (proxy.state, proxy.attempts, proxy.last_error) == (
            expected,
            attempt,
            "Transport endpoint is not connected",
        )
        assert leftovers(root) == [] and not final_path(root).exists()
    render = Render.objects.get(pk=verified.pk)
    assert (render.state, render.reason) == (
        Render.State.VERIFIED,
        f"{PROXY_FAILED}Transport endpoint is not connected",
    )
    assert build(verified, django_capture_on_commit_callbacks).state == "failed"  # nothing claimed it
    assert "frameio.tasks.upload_render" not in [job[0] for job in enqueued]


def test_a_stopping_worker_gives_the_proxy_back_without_counting_a_try(
    verified, root, django_capture_on_commit_callbacks
):
    def deploy_at_frame_5(done: int, total: int) -> None:
        if done == 5:
            shutdown.request()  # SIGTERM to the qcluster worker

    try:
        proxy = build(verified, django_capture_on_commit_callbacks, on_progress=deploy_at_frame_5)
    finally:
        shutdown.reset()
    assert (proxy.state, proxy.attempts, proxy.lease_owner, proxy.frames_done) == ("pending", 0, "", 0)
    assert leftovers(root) == []
    assert build(verified, django_capture_on_commit_callbacks).state == "ready"  # the next worker builds it


def test_a_sequence_verified_before_proxies_existed_gets_one(
    shot, root, watcher, clock, enqueued, django_capture_on_commit_callbacks
):
    make_sequence(root / "renders/review", "UNDLM_00042_v003", range(FIRST, FIRST + FRAMES))
    scan_across_the_settle_window(watcher, clock)
    ReviewProxy.objects.all().delete()  # as a sequence verified by the version before this one
    enqueued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert proxies.proxies_reconcile() == {"enqueued": 0, "requested": 1}
    render = Render.objects.get(path=KEY)
    assert enqueued == [("ingest.tasks.build_proxy", render.pk)] and render.proxy.state == "pending"


# --- which renders get one ------------------------------------------------------------------------------


def test_a_movie_a_rule_names_gets_a_proxy_too(shot, root, clock, enqueued, django_capture_on_commit_callbacks):
    watcher = make_watcher(root, clock, django_capture_on_commit_callbacks, ("sequence", "codec:mpeg4"))
    make_clip(root / "renders/review/UNDLM_00042_v004.mov", frames=FRAMES)  # mpeg4, 64x36
    scan_across_the_settle_window(watcher, clock)
    render = Render.objects.get(path="renders/review/UNDLM_00042_v004.mov")
    assert render.state == Render.State.VERIFIED and render.proxy.state == "pending"
    proxy = build(render, django_capture_on_commit_callbacks)
    assert (proxy.state, proxy.frames, proxy.width, proxy.height) == ("ready", FRAMES, 64, 36)
    assert review_file(render).name == "UNDLM_00042_v004.mp4"


def test_a_movie_no_rule_names_goes_as_it_is(shot, root, watcher, clock, enqueued):
    make_clip(root / "renders/review/UNDLM_00042_v004.mov", frames=FRAMES)
    scan_across_the_settle_window(watcher, clock)
    render = Render.objects.get(path="renders/review/UNDLM_00042_v004.mov")
    assert render.state == Render.State.QUEUED and not ReviewProxy.objects.exists()
    file = review_file(render)
    assert (file.path, file.name, file.is_proxy) == (root / render.path, "UNDLM_00042_v004.mov", False)


def test_proxy_rules():
    rules = parse_proxy_rules(["sequence", "codec:ProRes", "width>3840", "height>2160"])
    movie = {"is_sequence": False, "codec": "h264", "width": 1920, "height": 1080}
    assert not wants_proxy(rules, **movie)
    assert wants_proxy(rules, **{**movie, "codec": "prores"})
    assert wants_proxy(rules, **{**movie, "width": 4096}) and not wants_proxy(rules, **{**movie, "width": 3840})
    assert wants_proxy(rules, **{**movie, "height": 2161})
    assert wants_proxy([], **{**movie, "is_sequence": True})  # a sequence always: Frame.io takes one file
    with pytest.raises(RuleError, match="'codec:' is not a proxy rule"):
        parse_proxy_rules(["codec:"])


def test_the_proxy_folder_setting(settings, db):
    render = Render(root="/mount", path="UNDLM/SEQ01/UNDLM_00042/renders/UNDLM_00042_v003.####.exr")
    assert proxy_folder(render) == Path("/mount/UNDLM/SEQ01/UNDLM_00042/renders/.postflow-proxies")
    settings.POSTFLOW_PROXY_PATH = "/mount/proxies"
    assert proxy_folder(render) == Path("/mount/proxies/UNDLM/SEQ01/UNDLM_00042/renders")
    settings.LUCIDLINK_MOUNT_PATH = Path("/mount")
    config = WatchConfig.from_settings()
    assert config.never_a_render("proxies/UNDLM/SEQ01/UNDLM_00042/renders/UNDLM_00042_v003.mp4")
    assert config.never_a_render("UNDLM/SEQ01/UNDLM_00042/renders/.postflow-proxies/UNDLM_00042_v003.mp4")
    assert not config.never_a_render("UNDLM/SEQ01/UNDLM_00042/renders/UNDLM_00042_v003.mp4")


# --- the pixels -------------------------------------------------------------------------------------


def test_size_is_capped_with_the_aspect_kept_and_even_sides():
    assert proxy_size(3840, 2160, 1920) == (1920, 1080)
    assert proxy_size(4096, 1716, 1920) == (1920, 804)  # 804.375, rounded, even
    assert proxy_size(1280, 720, 1920) == (1280, 720)  # never scaled up
    assert proxy_size(1001, 563, 1920) == (1000, 562)  # 4:2:0 needs even sides


def test_the_burn_in_text_places_each_frame_in_the_cut():
    burn_in = BurnIn("UNDLM_00042", 3, "SEQ01 REVEIL HOPITAL - JOUR", 900_000, 25.0, FRAMES, FIRST)
    assert burn_in.lines(0) == (
        "UNDLM_00042  v003  SEQ01 REVEIL HOPITAL - JOUR",
        "REC 10:00:00:00   frame 1/75   #1001",
    )
    assert burn_in.lines(36)[1] == "REC 10:00:01:11   frame 37/75   #1037"
    assert BurnIn("UNDLM_00042", 3, "SEQ01", None, 25.0, 2).lines(1)[1] == "REC --:--:--:--   frame 2/2   #2"


@pytest.mark.parametrize("shade", [0, 255], ids=["black frame", "white frame"])
def test_the_burn_in_reads_on_dark_and_bright_frames(shade):
    painter = _Painter(640, 360)
    image = painter.draw(Image.new("RGB", (640, 360), (shade,) * 3), ("UNDLM_00042  v003", "REC 10:00:01:11"))
    box = image.crop(painter.box).convert("L")
    low, high = box.getextrema()
    # White text over a box dark enough under it (at most 40 % of a white frame), with a black outline.
    assert high >= 240 and low <= 10
    background = box.getpixel((painter.box[2] - 2, 1))
    assert background == round(shade * (255 - BOX_OPACITY) / 255) or abs(background - shade * 0.39) <= 2
    assert image.crop((0, 0, 640, painter.box[1])).getextrema() == ((shade, shade),) * 3  # the rest untouched


@pytest.mark.parametrize(("codec", "pix_fmt"), [("exr", "gbrpf32le"), ("dpx", "rgb48le")])
def test_frames_pillow_cannot_read_are_read_with_pyav(tmp_path, codec, pix_fmt):
    colour = (200, 100, 50)
    paths = [
        write_still(
            tmp_path / f"UNDLM_00042_v001.{n:04d}.{codec}",
            Image.new("RGB", (64, 36), colour),
            codec=codec,
            pix_fmt=pix_fmt,
        )
        for n in range(1, 4)
    ]
    images = list(sequence_frames(paths))
    assert [(image.mode, image.size) for image in images] == [("RGB", (64, 36))] * 3
    shown = images[0].getpixel((5, 5))
    if codec == "exr":  # linear light, shown in sRGB: brighter, in the same order
        assert all(s > c for s, c in zip(shown, colour, strict=True)) and shown[0] > shown[1] > shown[2]
    else:
        assert all(abs(s - c) <= 1 for s, c in zip(shown, colour, strict=True))
    burn_in = BurnIn("UNDLM_00042", 1, "SEQ01", 0, 25.0, 3)
    facts = encode_proxy(iter(images), out=tmp_path / "p.mp4", fps=Fraction(25), max_width=1920, burn_in=burn_in)
    assert (facts.frames, facts.width, facts.height) == (3, 64, 36)


def test_encoding_stops_with_what_the_progress_callback_raises(tmp_path):
    frames = (Image.new("RGB", (64, 36), frame_colour(n)) for n in range(20))
    burn_in = BurnIn("UNDLM_00042", 1, "SEQ01", 0, 25.0, 20)

    def stop(done: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encode_proxy(frames, out=tmp_path / "p.mp4", fps=Fraction(25), max_width=1920, burn_in=burn_in, on_frame=stop)


# --- workers ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_encode_one_proxy_and_a_process_encodes_one_at_a_time(
    shot, root, watcher, clock, enqueued, monkeypatch
):
    for version in (3, 4):
        make_sequence(root / "renders/review", f"UNDLM_00042_v{version:03d}", range(FIRST, FIRST + FRAMES))
    scan_across_the_settle_window(watcher, clock)
    v3, v4 = Render.objects.order_by("version")
    running, most = [0], [0]
    real_encode = proxies.encode_proxy

    def counted(*args, **kwargs):
        running[0] += 1
        most[0] = max(most[0], running[0])
        try:
            return real_encode(*args, **kwargs)
        finally:
            running[0] -= 1

    monkeypatch.setattr(proxies, "encode_proxy", counted)
    # Four workers of one process: two jobs of v003 (a job delivered twice), two of v004.
    jobs = [v3.pk, v3.pk, v4.pk, v4.pk]
    results, errors = race(lambda: proxies.proxy_build(render_id=jobs.pop()), threads=4)
    assert errors == [] and len(results) == 4 and most[0] == 1  # one encode at a time in the process
    for render in (v3, v4):
        proxy = ReviewProxy.objects.get(render=render)
        assert (proxy.state, proxy.attempts) == ("ready", 1)  # claimed and encoded once
        assert Render.objects.get(pk=render.pk).state == Render.State.QUEUED
