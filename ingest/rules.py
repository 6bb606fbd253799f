"""Stage rules: what a verified render means, by the folder it sits in.

`POSTFLOW_STAGE_RULES` is a list of "glob=action" pairs, first match wins. The glob is an
fnmatch pattern on the path relative to the watch root, so `*` also crosses `/`
(`renders/ae/*` covers every depth below renders/ae/). Actions:

- `review`: upload the render for review (the default for every render);
- `ignore`: record it as done, do nothing else;
- a shot status (e.g. `ae_completed`): move the shot there when the machine allows.
"""

from postflow.lib.glob_rules import Rule, RuleError, first_match
from postflow.lib.glob_rules import parse_rules as _parse_rules
from shots.workflow import Status, parse_evidence_rules

REVIEW = "review"
IGNORE = "ignore"
STAGE_ACTIONS = (REVIEW, IGNORE, *Status.values)

__all__ = ["IGNORE", "REVIEW", "Rule", "RuleError", "action_for", "evidence_rules", "parse_rules"]


def parse_rules(entries: list[str]) -> list[Rule]:
    """Stage rules: the action is review, ignore or a shot status."""
    return _parse_rules(
        entries,
        actions=STAGE_ACTIONS,
        example="renders/ae/*=ae_completed",
        allowed="review, ignore or a status",
        listed=Status.values,
    )


def evidence_rules(entries: list[str]) -> list[Rule]:
    """Evidence rules (ingest.evidence): the action is a shot status (shots.workflow's grammar)."""
    return parse_evidence_rules(entries)


def action_for(relpath: str, rules: list[Rule]) -> str:
    """The action of the first rule whose glob matches; `review` when none does."""
    return first_match(relpath, rules) or REVIEW
