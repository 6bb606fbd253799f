"""TreeScanner on real files in tmp_path.

Most tests first "age" the tree: every directory's mtime is set an hour back, as on a tree nobody touched
lately. Without that, a directory modified within the scanner's racy window is listed again on the next scan
whatever its mtime says, which would hide what an incremental scan misses or skips.
"""

import errno
import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from ingest.scanner import FileStat, RootUnavailable, TreeScanner, printable, unsafe_name_reason

HOUR_NS = 3600 * 1_000_000_000


def write(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def age(root: Path) -> None:
    """Set every directory's mtime (not the files') one hour back."""
    past = time.time_ns() - HOUR_NS
    for dirpath, _, _ in os.walk(root):
        os.utime(dirpath, ns=(past, past))


def set_mtime_ns(path: Path, mtime_ns: int) -> None:
    """Put a directory's mtime back where it was: a filesystem whose directory mtimes did not move."""
    os.utime(path, ns=(mtime_ns, mtime_ns))


def stat_of(path: Path) -> FileStat:
    st = path.lstat()
    return FileStat(size=st.st_size, mtime_ns=st.st_mtime_ns, inode=st.st_ino)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "lucid"
    path.mkdir()
    return path


def fail_for(monkeypatch: pytest.MonkeyPatch, name: str, path: Path, error: OSError) -> None:
    """Make os.<name> raise `error` for `path` only, as a broken directory or a vanished file would."""
    real = getattr(os, name)

    def fake(target, *args, **kwargs):
        if os.fspath(target) == str(path):
            raise error
        return real(target, *args, **kwargs)

    monkeypatch.setattr(os, name, fake)


# -- appeared / changed / gone ---------------------------------------------------------------------------


def test_first_scan_is_full_and_reports_every_file_in_sorted_order(root: Path) -> None:
    write(root / "b.mov", b"xy")
    write(root / "SEQ01" / "00010" / "a.mov")
    write(root / "a.mov")

    result = TreeScanner(root).scan()

    assert result.full
    assert list(result.appeared) == ["SEQ01/00010/a.mov", "a.mov", "b.mov"]
    assert result.appeared["b.mov"] == stat_of(root / "b.mov")
    assert result.changed == {} and result.gone == set() and result.rejected == {}


def test_incremental_scan_reports_appeared_changed_and_gone(root: Path) -> None:
    write(root / "keep.mov")
    write(root / "replace.mov", b"old")
    write(root / "shot" / "delete.mov")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()

    write(root / "new.mov", b"n")
    os.replace(write(root / "replace.part", b"newer"), root / "replace.mov")  # a new inode under the old name
    (root / "shot" / "delete.mov").unlink()
    result = scanner.scan()

    assert not result.full
    assert result.appeared == {"new.mov": stat_of(root / "new.mov")}
    assert result.changed == {"replace.mov": stat_of(root / "replace.mov")}
    assert result.changed["replace.mov"].size == 5
    assert result.gone == {"shot/delete.mov"}
    assert set(scanner.known()) == {"keep.mov", "new.mov", "replace.mov"}


def test_file_deleted_and_written_again_under_the_same_name_is_changed(root: Path) -> None:
    render = write(root / "shot" / "a.mov", b"take one")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()

    render.unlink()
    write(render, b"take two, longer")  # ext4 and others often give the freed inode number straight back
    result = scanner.scan()

    assert result.changed == {"shot/a.mov": stat_of(render)}
    assert result.appeared == {} and result.gone == set()


def test_removed_subtree_reports_every_file_in_it_gone(root: Path) -> None:
    write(root / "SEQ01" / "00010" / "renders" / "a.mov")
    write(root / "SEQ01" / "00010" / "b.mov")
    write(root / "SEQ02" / "c.mov")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()

    shutil.rmtree(root / "SEQ01")
    result = scanner.scan()

    assert result.gone == {"SEQ01/00010/renders/a.mov", "SEQ01/00010/b.mov"}
    assert set(scanner.known()) == {"SEQ02/c.mov"}
    assert scanner.scan().dirs_statted == 2  # the root and SEQ02: the dropped directories are not visited


def test_directory_replaced_by_a_file(root: Path) -> None:
    write(root / "shot" / "a.mov")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()

    shutil.rmtree(root / "shot")
    write(root / "shot", b"now a file")
    result = scanner.scan()

    assert result.gone == {"shot/a.mov"}
    assert result.appeared == {"shot": stat_of(root / "shot")}


def test_growing_file_in_unchanged_directory_is_caught_only_when_watched_or_on_a_full_scan(root: Path) -> None:
    render = write(root / "renders" / "UNDLM_00042_v002.mov")  # a LucidLink 0-byte placeholder
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()
    dir_mtime = (root / "renders").stat().st_mtime_ns

    with render.open("ab") as handle:
        handle.write(b"first chunk")
    assert (root / "renders").stat().st_mtime_ns == dir_mtime  # the premise: writing moves no directory mtime

    missed = scanner.scan()
    assert missed.changed == {} and missed.files_statted == 0

    caught = scanner.scan(watch=["renders/UNDLM_00042_v002.mov"])
    assert caught.changed == {"renders/UNDLM_00042_v002.mov": stat_of(render)}
    assert caught.changed["renders/UNDLM_00042_v002.mov"].size == 11

    with render.open("ab") as handle:
        handle.write(b", second")
    assert scanner.scan().changed == {}
    full = scanner.scan(full=True)
    assert full.full
    assert full.changed == {"renders/UNDLM_00042_v002.mov": stat_of(render)}
    assert scanner.known()["renders/UNDLM_00042_v002.mov"].size == 19


def test_new_file_several_levels_down_is_found_through_unchanged_ancestors(root: Path) -> None:
    leaf = root / "UNDLM" / "SEQ01" / "00042" / "renders" / "review"
    write(leaf / "UNDLM_00042_v001.mov")
    write(root / "UNDLM" / "SEQ01" / "notes.txt")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()
    ancestors = [leaf, *leaf.relative_to(root).parents]
    mtimes = {path: (root / path).stat().st_mtime_ns for path in ancestors[1:]}

    write(leaf / "UNDLM_00042_v002.mov", b"v2")
    assert {path: (root / path).stat().st_mtime_ns for path in ancestors[1:]} == mtimes  # only the leaf moved

    result = scanner.scan()
    assert result.appeared == {
        "UNDLM/SEQ01/00042/renders/review/UNDLM_00042_v002.mov": stat_of(leaf / "UNDLM_00042_v002.mov")
    }
    assert result.dirs_listed == 1
    assert result.dirs_statted == 6  # the root and the five directories down to the leaf


def test_rename_into_place_is_gone_plus_appeared_with_the_same_inode(root: Path) -> None:
    tmp = write(root / "shot" / "a.tmp", b"rendered")
    inode = tmp.stat().st_ino
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()

    tmp.rename(root / "shot" / "a.mov")
    result = scanner.scan()

    assert result.gone == {"shot/a.tmp"}
    assert list(result.appeared) == ["shot/a.mov"]
    assert result.appeared["shot/a.mov"].inode == inode
    assert result.changed == {}


def test_accept_filters_which_files_are_tracked(root: Path) -> None:
    write(root / "a.mov")
    write(root / "a.mov.xml")
    write(root / "-notes.txt")  # unsafe, but not a file the caller tracks

    result = TreeScanner(root, accept=lambda name: name.endswith(".mov")).scan()

    assert list(result.appeared) == ["a.mov"]
    assert result.rejected == {}


# -- safety -----------------------------------------------------------------------------------------------


def test_symlinked_files_outside_the_root_are_rejected_and_inside_ignored(root: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "elsewhere" / "secret.mov", b"not ours")
    write(root / "real.mov")
    (root / "out.mov").symlink_to(secret)
    (root / "dangling.mov").symlink_to(tmp_path / "nowhere" / "gone.mov")
    (root / "alias.mov").symlink_to(root / "real.mov")
    scanner = TreeScanner(root)

    result = scanner.scan()

    assert list(result.appeared) == ["real.mov"]
    assert set(result.rejected) == {"dangling.mov", "out.mov"}
    assert result.rejected["out.mov"] == f"symlink to {secret}, outside the root"
    assert set(scanner.known()) == {"real.mov"}
    assert scanner.scan(full=True).rejected == {}  # reported once, like `appeared`


def test_symlinked_directories_are_never_followed(root: Path, tmp_path: Path) -> None:
    write(root / "real" / "a.mov")
    write(tmp_path / "elsewhere" / "b.mov")
    (root / "loop").symlink_to(root)
    (root / "twin").symlink_to(root / "real")
    (root / "out").symlink_to(tmp_path / "elsewhere")

    result = TreeScanner(root).scan()

    assert list(result.appeared) == ["real/a.mov"]
    assert set(result.rejected) == {"out"}
    assert result.dirs_listed == 2  # the root and real/


def test_unsafe_names_are_rejected_and_an_unsafe_directory_is_not_entered(root: Path) -> None:
    write(root / "ok.mov")
    write(root / "-rf.mov")
    write(root / "bad\x1bname.mov")
    write(root / "SEQ-01" / "fine.mov")  # a '-' inside a name is harmless
    write(root / "-x" / "inside.mov")
    fd = os.open(os.path.join(os.fsencode(root), b"caf\xe9.mov"), os.O_CREAT | os.O_WRONLY)  # Latin-1, not UTF-8
    os.close(fd)

    result = TreeScanner(root).scan()

    assert list(result.appeared) == ["SEQ-01/fine.mov", "ok.mov"]
    assert result.rejected == {
        "-rf.mov": "name starts with '-'",
        "-x": "name starts with '-'",
        "bad\x1bname.mov": r"name contains control character U+001B: bad\x1bname.mov",
        "caf\udce9.mov": r"name is not valid UTF-8: caf\xe9.mov (the bytes shown as \xNN)",
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("UNDLM_SEQ01_00042_v002.mp4", None),
        ("été-final v2.mov", None),
        ("..", "name is only dots ('..')"),
        (".", "name is only dots ('.')"),
        ("...", "name is only dots ('...')"),
        ("...mov", None),
        ("-", "name starts with '-'"),
        ("a\x00b", r"name contains NUL: a\x00b"),
        ("a\nb.mov", r"name contains control character U+000A: a\nb.mov"),
        ("a\x7f.mov", r"name contains control character U+007F: a\x7f.mov"),
        ("evil\u202evom.exe", r"name contains control character U+202E: evil\u202evom.exe"),
        ("a\x85.mov", r"name contains control character U+0085: a\u0085.mov"),
        ("a\udc85.mov", r"name is not valid UTF-8: a\x85.mov (the bytes shown as \xNN)"),
        ("v2\\final.mov", r"name contains a backslash (the Windows path separator): v2\\final.mov"),
        ("é" * 127 + ".", None),  # 255 bytes
        ("é" * 128, "name is longer than 255 bytes (256)"),
    ],
)
def test_unsafe_name_reason(name: str, reason: str | None) -> None:
    assert unsafe_name_reason(name) == reason


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("UNDLM_00042_v001.mov", "UNDLM_00042_v001.mov"),
        ("été/UNDLM.mov", "été/UNDLM.mov"),
        ("UNDLM_00209_v012\udcff\udcfe.mov", r"UNDLM_00209_v012\xff\xfe.mov"),
        ("a\nb\tc\rd\x1b", r"a\nb\tc\rd\x1b"),
        ("a\\xff", r"a\\xff"),  # a real backslash never reads as an escape
        ("\x85\udc85\u202e", r"\u0085\x85\u202e"),  # a C1 control and the byte 0x85 stay apart
    ],
)
def test_printable_is_printable_one_to_one_and_keeps_safe_names(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert shown.isprintable() and shown.encode("utf-8")


def test_paths_longer_than_max_path_are_rejected_and_not_entered(root: Path) -> None:
    write(root / "ok.mov")
    write(root / ("d" * 20) / "deeper" / "a.mov")  # the folder fits (27 characters), the file does not (33)
    write(root / ("e" * 31) / "b.mov")
    write(root / ("f" * 30 + ".mov"))

    result = TreeScanner(root, max_path=30).scan()

    assert list(result.appeared) == ["ok.mov"]
    assert result.rejected == {
        "d" * 20 + "/deeper/a.mov": "path is longer than 30 characters (33)",
        "e" * 31: "path is longer than 30 characters (31)",
        "f" * 30 + ".mov": "path is longer than 30 characters (34)",
    }
    assert result.dirs_listed == 3  # the root, d…/ and d…/deeper/, not e…/


# -- errors -----------------------------------------------------------------------------------------------


def test_root_gone_raises_and_keeps_the_view_then_the_next_good_scan_diffs_against_it(
    root: Path, tmp_path: Path
) -> None:
    write(root / "a.mov", b"a")
    write(root / "shot" / "b.mov", b"b")
    scanner = TreeScanner(root)
    scanner.scan()
    before = scanner.known()

    root.rename(tmp_path / "unmounted")  # the mount point vanishes
    with pytest.raises(RootUnavailable) as raised:
        scanner.scan()
    assert raised.value.errno == errno.ENOENT
    assert raised.value.root == root
    assert scanner.known() == before

    (tmp_path / "unmounted" / "shot" / "b.mov").unlink()
    write(tmp_path / "unmounted" / "c.mov", b"c")
    (tmp_path / "unmounted").rename(root)  # and comes back, changed meanwhile
    result = scanner.scan()

    assert result.appeared == {"c.mov": stat_of(root / "c.mov")}
    assert result.gone == {"shot/b.mov"}
    assert result.changed == {}


def test_root_deleted_and_recreated_reports_the_new_files(root: Path) -> None:
    write(root / "a.mov", b"a")
    write(root / "b.mov", b"b")
    scanner = TreeScanner(root)
    scanner.scan()
    shutil.rmtree(root)
    with pytest.raises(RootUnavailable):
        scanner.scan()

    write(root / "a.mov", b"a again")
    result = scanner.scan()

    assert result.gone == {"b.mov"}
    assert result.changed == {"a.mov": stat_of(root / "a.mov")}
    assert result.appeared == {}


def test_root_eio_raises_root_unavailable(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(root / "a.mov")
    scanner = TreeScanner(root)
    scanner.scan()
    fail_for(monkeypatch, "stat", root, OSError(errno.EIO, "Input/output error"))

    with pytest.raises(RootUnavailable) as raised:
        scanner.scan()

    assert raised.value.errno == errno.EIO
    assert "EIO" in str(raised.value)
    assert set(scanner.known()) == {"a.mov"}


def test_mount_lost_mid_scan_raises_and_keeps_the_view(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(root / "a" / "x.mov")
    write(root / "b" / "y.mov")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()
    write(root / "a" / "new.mov")
    write(root / "b" / "new.mov")
    fail_for(monkeypatch, "scandir", root / "b", OSError(errno.ENOTCONN, "Transport endpoint is not connected"))

    with pytest.raises(RootUnavailable) as raised:
        scanner.scan()
    assert raised.value.errno == errno.ENOTCONN
    assert set(scanner.known()) == {"a/x.mov", "b/y.mov"}  # a/new.mov, seen before the failure, is not kept

    monkeypatch.undo()
    assert set(scanner.scan().appeared) == {"a/new.mov", "b/new.mov"}


def test_root_replaced_during_the_scan_raises_and_keeps_the_view(root: Path, tmp_path: Path) -> None:
    write(root / "a.mov")
    write(root / "shot" / "b.mov")
    swap = {"armed": False}

    def accept(name: str) -> bool:
        # Runs while the root is being listed: unmount it, leaving an empty mount point behind.
        if swap["armed"]:
            swap["armed"] = False
            root.rename(tmp_path / "unmounted")
            root.mkdir()
        return True

    scanner = TreeScanner(root, accept=accept)
    scanner.scan()
    swap["armed"] = True

    with pytest.raises(RootUnavailable) as raised:
        scanner.scan(full=True)

    assert raised.value.errno == errno.ESTALE
    assert set(scanner.known()) == {"a.mov", "shot/b.mov"}


def test_root_on_another_device_gets_a_full_scan(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(root / "shot" / "a.mov")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()
    real_stat = os.stat

    class Remounted:  # the same tree, seen through a new mount: another st_dev
        def __init__(self, st: os.stat_result) -> None:
            self._st = st
            self.st_dev = st.st_dev + 1

        def __getattr__(self, name: str) -> object:
            return getattr(self._st, name)

    def fake_stat(path, *args, **kwargs):
        st = real_stat(path, *args, **kwargs)
        return Remounted(st) if os.fspath(path) == str(root) else st

    monkeypatch.setattr(os, "stat", fake_stat)
    result = scanner.scan()

    assert result.full
    assert (result.dirs_listed, result.files_statted) == (2, 1)
    assert scanner.scan().dirs_listed == 0


def test_unreadable_subdirectory_is_skipped_without_aborting_the_scan(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write(root / "bad" / "b.mov")
    write(root / "good" / "g.mov")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()
    write(root / "bad" / "new.mov")
    write(root / "good" / "new.mov")
    # chmod 000 does not stop root, which runs these tests: fail the listing itself.
    fail_for(monkeypatch, "scandir", root / "bad", PermissionError(errno.EACCES, "Permission denied"))

    with caplog.at_level(logging.WARNING, logger="ingest.scanner"):
        result = scanner.scan()

    assert result.appeared == {"good/new.mov": stat_of(root / "good" / "new.mov")}
    assert result.gone == set()  # what bad/ held is kept, not reported gone
    assert result.errors == {"bad": "EACCES: Permission denied"}
    assert "bad" in caplog.text
    assert set(scanner.known()) == {"bad/b.mov", "good/g.mov", "good/new.mov"}

    monkeypatch.undo()
    assert list(scanner.scan().appeared) == ["bad/new.mov"]


def test_unreadable_subdirectory_on_the_first_scan(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(root / "bad" / "b.mov")
    write(root / "good" / "g.mov")
    age(root)
    scanner = TreeScanner(root)
    fail_for(monkeypatch, "scandir", root / "bad", PermissionError(errno.EACCES, "Permission denied"))

    assert list(scanner.scan().appeared) == ["good/g.mov"]

    monkeypatch.undo()
    assert list(scanner.scan().appeared) == ["bad/b.mov"]


def test_file_vanishing_between_listing_and_stat_is_skipped_and_retried(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(root / "shot" / "a.mov")
    flaky = write(root / "shot" / "b.mov")
    age(root)
    scanner = TreeScanner(root)
    fail_for(monkeypatch, "stat", flaky, FileNotFoundError(errno.ENOENT, "No such file or directory"))

    result = scanner.scan()
    assert list(result.appeared) == ["shot/a.mov"]
    assert list(result.errors) == ["shot/b.mov"]

    monkeypatch.undo()
    retried = scanner.scan()  # the directory's mtime has not moved: listed again because a stat failed
    assert list(retried.appeared) == ["shot/b.mov"]
    assert retried.dirs_listed == 1


def test_known_file_vanishing_between_listing_and_stat_is_gone(root: Path) -> None:
    write(root / "shot" / "a.mov")
    write(root / "shot" / "b.mov")
    age(root)
    race = {"armed": False}

    def accept(name: str) -> bool:
        # Runs while shot/ is being listed, before its files are stat'ed: another machine deletes a.mov.
        if race["armed"] and name == "a.mov":
            race["armed"] = False
            (root / "shot" / "a.mov").unlink()
        return True

    scanner = TreeScanner(root, accept=accept)
    scanner.scan()
    write(root / "shot" / "c.mov")
    race["armed"] = True
    result = scanner.scan()

    assert result.gone == {"shot/a.mov"}
    assert list(result.appeared) == ["shot/c.mov"]
    assert set(scanner.known()) == {"shot/b.mov", "shot/c.mov"}


def test_known_file_failing_to_stat_keeps_its_last_state(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    render = write(root / "shot" / "a.mov", b"a")
    scanner = TreeScanner(root)
    before = scanner.scan().appeared["shot/a.mov"]
    fail_for(monkeypatch, "stat", render, OSError(errno.EIO, "Input/output error"))

    result = scanner.scan(full=True)

    assert result.gone == set() and result.changed == {}
    assert result.errors == {"shot/a.mov": "EIO: Input/output error"}
    assert scanner.known() == {"shot/a.mov": before}


# -- cost, and what the mtime shortcut can miss ------------------------------------------------------------


def test_steady_state_scan_lists_no_directory_and_stats_only_watched_files(root: Path) -> None:
    for seq in ("SEQ01", "SEQ02"):
        for shot in ("00010", "00020"):
            for stage in ("ae", "review"):
                for version in (1, 2, 3):
                    write(root / seq / shot / "renders" / stage / f"UNDLM_{shot}_v{version:03}.mov")
    age(root)
    scanner = TreeScanner(root)
    first = scanner.scan()
    assert (first.dirs_listed, first.files_statted) == (1 + 2 + 4 + 4 + 8, 24)

    steady = scanner.scan()
    assert (steady.dirs_listed, steady.dirs_statted, steady.files_statted) == (0, 19, 0)
    assert steady.appeared == steady.changed == steady.rejected == {} and steady.gone == set()

    watched = scanner.scan(
        watch=[
            "SEQ01/00010/renders/ae/UNDLM_00010_v001.mov",
            "SEQ02/00020/renders/review/UNDLM_00020_v003.mov",
            "not/known.mov",
        ]
    )
    assert (watched.dirs_listed, watched.files_statted) == (0, 2)
    assert watched.changed == {}


def test_directory_modified_just_before_its_listing_is_listed_again(root: Path) -> None:
    write(root / "shot" / "a.mov")
    scanner = TreeScanner(root, racy_window=60)
    scanner.scan()
    listed_mtime = (root / "shot").stat().st_mtime_ns

    # A second change within the same timestamp tick: the directory's mtime does not move.
    write(root / "shot" / "b.mov")
    set_mtime_ns(root / "shot", listed_mtime)

    assert list(scanner.scan().appeared) == ["shot/b.mov"]


def test_directory_mtime_that_lies_is_missed_until_a_full_scan(root: Path) -> None:
    write(root / "shot" / "a.mov")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()
    listed_mtime = (root / "shot").stat().st_mtime_ns

    write(root / "shot" / "b.mov")
    set_mtime_ns(root / "shot", listed_mtime)

    missed = scanner.scan()
    assert missed.appeared == {} and missed.dirs_listed == 0
    assert list(scanner.scan(full=True).appeared) == ["shot/b.mov"]


def test_watched_file_deleted_without_its_directory_mtime_moving(root: Path) -> None:
    write(root / "shot" / "a.mov")
    write(root / "shot" / "b.mov")
    age(root)
    scanner = TreeScanner(root)
    scanner.scan()
    listed_mtime = (root / "shot").stat().st_mtime_ns

    (root / "shot" / "a.mov").unlink()
    set_mtime_ns(root / "shot", listed_mtime)
    result = scanner.scan(watch=["shot/a.mov"])

    assert result.gone == {"shot/a.mov"}
    assert set(scanner.known()) == {"shot/b.mov"}
    after = scanner.scan()  # the directory is no longer trusted: listed again, nothing new to report
    assert (after.dirs_listed, after.gone, after.appeared) == (1, set(), {})
