"""Filters for text the dashboard shows in little room: cut at a word, names split where they may wrap."""

from django import template

register = template.Library()


@register.filter
def at_word(text: str, limit: int = 300) -> str:
    """`text` when it fits; else cut at the last space before `limit` characters (mid-word only for a
    single word that long), followed by "…". The page puts the whole text in a `title` beside it."""
    text = str(text or "")
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"


@register.filter
def path_parts(path: str) -> tuple[str, str]:
    """("renders/review/", "UNDLM_00042_v003.mov"): the folder may wrap anywhere, the file name is kept whole."""
    folder, slash, name = str(path or "").rpartition("/")
    return (folder + slash, name)
