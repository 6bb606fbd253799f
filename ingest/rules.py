"""Stage rules: what a verified render means, by the folder it sits in.

`POSTFLOW_STAGE_RULES` is a list of "glob=action" pairs, first match wins. The glob is an
fnmatch pattern on the path relative to the watch root, so `*` also crosses `/`
(`renders/ae/*` covers every depth below renders/ae/). Actions:

- `review`: upload the render for review (the default for every render);
- `ignore`: record it as done, do nothing else;
- a shot status (e.g. `ae_completed`): move the shot there when the machine allows.
"""

import fnmatch
from dataclasses import dataclass

from shots.workflow import Status

REVIEW = "review"
IGNORE = "ignore"


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    pattern: str
    action: str


def parse_rules(entries: list[str]) -> list[Rule]:
    rules = []
    for entry in entries:
        pattern, sep, action = entry.rpartition("=")
        pattern, action = pattern.strip(), action.strip()
        if not sep or not pattern:
            raise RuleError(f"{entry!r} is not glob=action (e.g. renders/ae/*=ae_completed)")
        if action not in (REVIEW, IGNORE) and action not in Status.values:
            raise RuleError(f"{entry!r}: action must be review, ignore or a status ({', '.join(Status.values)})")
        rules.append(Rule(pattern, action))
    return rules


def action_for(relpath: str, rules: list[Rule]) -> str:
    """The action of the first rule whose glob matches; `review` when none does."""
    return next((rule.action for rule in rules if fnmatch.fnmatchcase(relpath, rule.pattern)), REVIEW)
