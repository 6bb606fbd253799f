"""Folder rules: "glob=action" pairs, first match wins (stage rules, evidence rules).

The glob is an fnmatch pattern on a path relative to the watch root, so `*` also crosses `/`
(`renders/ae/*` covers every depth below renders/ae/). What an action may be is the caller's to say:
a pure grammar, used by the settings' system checks, the project's admin field and the watcher alike.
"""

import fnmatch
from collections.abc import Collection, Iterable
from dataclasses import dataclass


class RuleError(ValueError):
    """An entry that is not glob=action, or names an action that is not allowed; says which."""


@dataclass(frozen=True)
class Rule:
    pattern: str
    action: str


def parse_rules(
    entries: Iterable[str], *, actions: Collection[str], example: str, allowed: str = "", listed: Iterable[str] = ()
) -> list[Rule]:
    """Rules from "glob=action" strings, in order; RuleError names the first entry that is not one.
    `allowed` says what an action may be in words ("review, ignore or a status"), `listed` the values
    the message lists after it (the statuses); by default, the actions themselves."""
    rules = []
    for entry in entries:
        if not isinstance(entry, str):
            raise RuleError(f"{entry!r} is not glob=action text (e.g. {example})")
        pattern, sep, action = entry.rpartition("=")
        pattern, action = pattern.strip(), action.strip()
        if not sep or not pattern:
            raise RuleError(f"{entry!r} is not glob=action (e.g. {example})")
        if action not in actions:
            words = allowed or "one of"
            raise RuleError(f"{entry!r}: action must be {words} ({', '.join(listed or actions)})")
        rules.append(Rule(pattern, action))
    return rules


def first_match(relpath: str, rules: Iterable[Rule]) -> str | None:
    """The action of the first rule whose glob matches `relpath`, or None."""
    return next((rule.action for rule in rules if fnmatch.fnmatchcase(relpath, rule.pattern)), None)
