"""Stage rules: what a verified render means, by the folder it sits in.

`POSTFLOW_STAGE_RULES` is a list of "glob=action" pairs, first match wins. The glob is an
fnmatch pattern on the path relative to the watch root, so `*` also crosses `/`
(`renders/ae/*` covers every depth below renders/ae/). Actions:

- `review`: upload the render for review (the default for every render);
- `ignore`: record it as done, do nothing else;
- a shot status (e.g. `ae_completed`): move the shot there when the machine allows.

`POSTFLOW_PROXY_FOR` says which renders for review Frame.io gets as a review proxy (`ingest.proxies`)
instead of as they are: `parse_proxy_rules`, `wants_proxy`.
"""

import re
from dataclasses import dataclass

from postflow.lib.glob_rules import Rule, RuleError, first_match
from postflow.lib.glob_rules import parse_rules as _parse_rules
from shots.workflow import Status, parse_evidence_rules

REVIEW = "review"
IGNORE = "ignore"
STAGE_ACTIONS = (REVIEW, IGNORE, *Status.values)

__all__ = [
    "IGNORE",
    "REVIEW",
    "ProxyRule",
    "Rule",
    "RuleError",
    "action_for",
    "evidence_rules",
    "parse_proxy_rules",
    "parse_rules",
    "wants_proxy",
]


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


# --- review proxies (POSTFLOW_PROXY_FOR) ------------------------------------------------------------

# "sequence", "codec:prores" (FFmpeg's decoder name, as a probe reads it), "width>3840", "height>2160".
_PROXY_ENTRY = re.compile(
    r"^(?:(?P<sequence>sequence)|codec:(?P<codec>[a-z0-9_]+)|(?P<side>width|height)>(?P<px>\d{1,5}))$"
)
PROXY_GRAMMAR = "sequence, codec:<name> (e.g. codec:prores), width>N or height>N (pixels)"


@dataclass(frozen=True)
class ProxyRule:
    """One entry of POSTFLOW_PROXY_FOR: what makes a render for review go to Frame.io as a proxy."""

    kind: str  # "sequence", "codec", "width" or "height"
    value: str = ""  # the codec name, or the pixels a side must exceed

    def matches(self, *, is_sequence: bool, codec: str, width: int, height: int) -> bool:
        if self.kind == "sequence":
            return is_sequence
        if self.kind == "codec":
            return codec.lower() == self.value
        return (width if self.kind == "width" else height) > int(self.value)


def parse_proxy_rules(entries: list[str]) -> list[ProxyRule]:
    """POSTFLOW_PROXY_FOR's entries as rules; RuleError names the first that is not one."""
    rules = []
    for entry in entries:
        match = _PROXY_ENTRY.match(entry.strip().lower()) if isinstance(entry, str) else None
        if match is None:
            raise RuleError(f"{entry!r} is not a proxy rule ({PROXY_GRAMMAR})")
        if match["sequence"]:
            rules.append(ProxyRule("sequence"))
        elif match["codec"]:
            rules.append(ProxyRule("codec", match["codec"]))
        else:
            rules.append(ProxyRule(match["side"], str(int(match["px"]))))
    return rules


def wants_proxy(rules: list[ProxyRule], *, is_sequence: bool, codec: str, width: int, height: int) -> bool:
    """Whether a render for review goes to Frame.io as a proxy. An image sequence always does, whatever
    the rules say: Frame.io takes one file per version, and a sequence has none."""
    facts = {"is_sequence": is_sequence, "codec": codec, "width": width, "height": height}
    return is_sequence or any(rule.matches(**facts) for rule in rules)
