"""Folder templates: brace alternatives, placeholders with format specs, and safe folder names."""

import pytest

from postflow.lib.folder_template import RenderError, TemplateError, expand_braces, parse, segment_problem

DEFAULT = "{project}/SEQ{scene:02}/{nomenclature}/{ae,ebsynth/keys,ebsynth/out,renders}"
VALUES = {"project": "UNDLM", "scene": 3, "scene_name": "REVEIL", "nomenclature": "UNDLM_00042", "shot": "042"}


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("plain/path", ["plain/path"]),
        ("a/{b,c/d}", ["a/b", "a/c/d"]),
        ("{a,b}{1,2}", ["a1", "a2", "b1", "b2"]),
        ("{shot}/{x,y}", ["{shot}/x", "{shot}/y"]),  # a group without a comma is a placeholder, kept
        ("{scene:02}", ["{scene:02}"]),
        ("", [""]),
    ],
)
def test_expand_braces(text, expanded):
    assert expand_braces(text) == expanded


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a/{b,{shot}}", "braces nest at character 6"),
        ("a/{b,c", "'{' at character 3 is never closed"),
        ("a}/b", "'}' without '{' at character 2"),
        ("a/{b,,c}", "{b,,c} has an empty alternative"),
    ],
)
def test_expand_braces_refuses(text, message):
    with pytest.raises(TemplateError, match=message):
        expand_braces(text)


def test_the_default_template_renders_the_shot_folders_and_its_root():
    template = parse(DEFAULT)
    assert template.render(VALUES) == [
        "UNDLM/SEQ03/UNDLM_00042/ae",
        "UNDLM/SEQ03/UNDLM_00042/ebsynth/keys",
        "UNDLM/SEQ03/UNDLM_00042/ebsynth/out",
        "UNDLM/SEQ03/UNDLM_00042/renders",
    ]
    assert template.roots(VALUES) == ["UNDLM/SEQ03/UNDLM_00042"]


def test_roots_are_cut_after_the_last_placeholder_of_each_path():
    template = parse("{project}/{scene_name}/{nomenclature}_{comp,roto}/{in,out}")
    assert template.roots(VALUES) == ["UNDLM/REVEIL/UNDLM_00042_comp", "UNDLM/REVEIL/UNDLM_00042_roto"]
    assert parse("{project}/{shot:0>5}").render(VALUES) == ["UNDLM/00042"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the template is empty"),
        ("{project}/SEQ{scene:02}/renders", r"needs \{nomenclature\} or \{shot\}"),
        ("{project}/{take}/{shot}", r"unknown placeholder \{take\}"),
        ("{project}/{ae}/{shot}", r"unknown placeholder \{ae\}"),  # one alternative needs a comma
        ("{nomenclature.__class__}", r"unknown placeholder \{nomenclature.__class__\}"),
        ("{shot!r}", r"unknown placeholder \{shot!r\}"),
        ("/mnt/{shot}", "must be relative to the mount"),
        ("{project}/../{shot}", "the folder name '..' is only dots"),
        ("{project}//{shot}", "has an empty folder name"),
        ("{shot}/", "has an empty folder name"),
        ("{shot}/{ae,..}", "the folder name '..' is only dots"),
        ("{shot}/a\\b", "contains a path separator"),
        ("{shot}/a\x00b", "contains NUL"),
        ("{shot}/C:", "contains ':'"),
        ("{scene:zz}/{shot}", "scene is a number; the format spec 'zz' does not fit it"),
        ("{shot:05}", r"'0' pads on the right; pad on the left: \{shot:0>5\}"),
        ("{shot}/{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}", "makes 128 folders per shot; at most 64"),
    ],
)
def test_a_bad_template_is_refused_with_the_reason(text, message):
    with pytest.raises(TemplateError, match=message):
        parse(text)


@pytest.mark.parametrize(
    ("scene_name", "detail"),
    [
        ("DAY/NIGHT", "folder name 'DAY/NIGHT' contains a path separator ({scene_name} = 'DAY/NIGHT')"),
        ("..", "folder name '..' is only dots ({scene_name} = '..')"),
        ("-rf", "folder name '-rf' starts with '-'"),
        ("INT: NUIT", "folder name 'INT: NUIT' contains ':', which Windows does not allow in a name"),
        ("A\u202eB", "contains control character U+202E"),
        ("FIN.", "ends with a dot or a space"),
    ],
)
def test_an_unsafe_value_is_refused_for_that_shot(scene_name, detail):
    template = parse("{project}/{scene_name}/{nomenclature}/{a,b}")
    with pytest.raises(RenderError, match="folder name") as caught:
        template.render({**VALUES, "scene_name": scene_name})
    assert caught.value.kind == "unsafe_name"
    assert detail in caught.value.detail


def test_a_missing_nomenclature_is_its_own_kind():
    with pytest.raises(RenderError) as caught:
        parse(DEFAULT).render({**VALUES, "nomenclature": ""})
    assert (caught.value.kind, caught.value.detail) == ("missing_value", "the shot has no nomenclature")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("SEQ01", None),
        ("REVEIL HOPITAL - JOUR", None),
        ("Scène été", None),
        ("...", "is only dots"),
        ("", "is empty"),
        ("x" * 256, "is longer than 255 bytes"),
        ("é" * 128, "is longer than 255 bytes"),
    ],
)
def test_segment_problem(name, problem):
    assert segment_problem(name) == problem
