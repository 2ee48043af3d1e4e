"""Choosing each field's value from what the sources say.

Each source says at most one thing per field (its most structured statement). Statements that
agree (numbers within their printed precision or 1%, text case-insensitively, lists as sets) form
a group; a group's *support* is the sum of its sources' tier weights (manufacturer 3, lab review 2,
retailer 1). The best-supported group wins, a tie going to the group with the better tier. The
group speaks through its best statement: a precise one before a rounded one, then the highest
tier (see ``_rank`` and ``_speaker``).

Inputs are partial: a page states some fields, misreads happen, a retailer repeats an older
revision. Confidence is meant to predict correctness (values at >= 0.9 should be >= 97% right):
a lone statement is worth what its tier is worth (``LONE``: manufacturer 0.85, lab review 0.75,
retailer 0.45; a prose sentence a little less), each further independent source that agrees
removes part of the remaining doubt (``CORROBORATION`` by its tier), and the result is scaled by the
winner's share of all support, so a conflict lowers it. A required field stated only by one
low-tier source (``LOW_TIERS``) is *flagged* ("lone retailer value"): it is reported, and its
confidence stays under the runner's coverage gate (``COVERAGE_CONFIDENCE``). More than one group is
a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.runners.harvest.corpus import TIER_RANK, TIER_WEIGHT
from engine.runners.harvest.fields import FieldDef
from engine.runners.harvest.values import REL_TOLERANCE, Parsed, same_value

LLM_TIER = "llm"
TIER_TRUST = {"manufacturer": 0.85, "lab_review": 0.75, "retailer": 0.45, LLM_TIER: 0.4}
LONE = TIER_TRUST  # confidence of a value one source states
CORROBORATION = {"manufacturer": 0.6, "lab_review": 0.5, "retailer": 0.35, LLM_TIER: 0.0}
METHOD_TRUST = {"prose": 0.95}  # a sentence is read less surely than a labelled cell
LOW_TIERS = frozenset({"retailer", LLM_TIER})
LLM_WEIGHT = 0.5  # shown in support; an LLM answer only breaks a tie of equal support and tier


@dataclass(frozen=True)
class Evidence:
    """One source's statement of one field."""

    field: str
    value: Parsed
    tier: str
    source_id: str
    url: str
    snippet_id: str
    method: str
    snippet: str
    order: int = 0  # the source's place in discovery order


@dataclass
class Group:
    """Statements that agree. ``head`` (the best-ranked) is what newcomers are compared with;
    ``speaker`` is the statement whose value the group reports (see ``_speaker``)."""

    members: list[Evidence] = field(default_factory=list)
    speaker: Evidence | None = None

    @property
    def head(self) -> Evidence:
        return self.members[0]

    @property
    def support(self) -> float:
        return sum(TIER_WEIGHT.get(e.tier, LLM_WEIGHT) for e in self.members)

    @property
    def source_support(self) -> float:
        return sum(TIER_WEIGHT.get(e.tier, 0.0) for e in self.members if e.tier != LLM_TIER)

    def sort_key(self) -> tuple[float, int, int, float, int]:
        """Most source support first; a tie goes to the better tier, then to the LLM's pick, then to precision."""
        head = self.head
        best_tier = min(TIER_RANK.get(e.tier, 9) for e in self.members)
        llm_votes = sum(1 for e in self.members if e.tier == LLM_TIER)
        return (-self.source_support, best_tier, -llm_votes, head.value.tolerance, head.order)


def _support(members: list[Evidence]) -> float:
    return sum(TIER_WEIGHT.get(e.tier, LLM_WEIGHT) for e in members)


def _speaker(fd: FieldDef, group: Group) -> Evidence:
    """The statement a group reports. Members agree within their printed precision, but a coarse
    figure ("1 kg", "0.6 lbs") agrees with several exact ones: the members are split again by
    their printed values (within 1%), the best-supported split wins (on a tie, the one led by a
    precise figure), and its best statement speaks."""
    if fd.type != "number" or len(group.members) == 1:
        return group.head
    splits: list[list[Evidence]] = []
    for e in group.members:  # already in rank order
        x = float(e.value.value)
        home = next((s for s in splits
                     if abs(x - float(s[0].value.value)) <= REL_TOLERANCE * max(abs(x), abs(float(s[0].value.value))) + 1e-9),
                    None)
        if home is None:
            splits.append([e])
        else:
            home.append(e)
    best = min(splits, key=lambda s: (-_support(s), _rank(s[0])))  # equal support: the precise figure
    return best[0]


@dataclass
class FieldResult:
    field: str
    value: Any
    unit: str | None
    confidence: float
    tier: str
    source_url: str | None
    snippet_id: str | None
    conflict: bool
    support: float
    groups: list[Group] = field(default_factory=list, repr=False)
    flag: str | None = None  # why the value needs a look although it was chosen ("lone retailer value")
    snippet: str | None = None  # the words the value was read from (the LLM's quote for an LLM value)

    def to_dict(self) -> dict[str, Any]:
        found = {"field": self.field, "value": self.value, "unit": self.unit, "confidence": self.confidence,
                 "tier": self.tier, "source_url": self.source_url, "snippet_id": self.snippet_id,
                 "snippet": self.snippet, "conflict": self.conflict, "support": self.support}
        return {**found, "flag": self.flag} if self.flag else found


def _rank(e: Evidence) -> tuple[bool, int, float, int]:
    """Which statement speaks for a group: a precise one (printed to within 1%) before a rounded one
    ("0.6 lbs" is 272 g give or take 23 g), then the better tier, then the more precise."""
    value = e.value
    rounded = isinstance(value.value, (int, float)) and value.tolerance > REL_TOLERANCE * abs(value.value)
    return (rounded, TIER_RANK.get(e.tier, 9), value.tolerance, e.order)


def group_evidence(fd: FieldDef, evidence: list[Evidence]) -> list[Group]:
    """Agreeing statements grouped, each group led by its best statement; best-supported group first.
    A statement agreeing with several groups joins the one whose value is closest to its own."""
    groups: list[Group] = []
    for e in sorted(evidence, key=_rank):
        homes = [g for g in groups if same_value(fd, g.head.value, e.value)]
        if not homes:
            groups.append(Group([e]))
            continue
        if fd.type == "number" and len(homes) > 1:
            homes.sort(key=lambda g: abs(float(g.head.value.value) - float(e.value.value)))
        homes[0].members.append(e)
    for g in groups:
        g.speaker = _speaker(fd, g)
    groups.sort(key=Group.sort_key)
    return groups


def confidence(win: Group, share: float) -> float:
    """How likely the winning value is right: its best statement's tier, the independent sources
    that agree with it, the share of all support it holds."""
    members = sorted((e for e in win.members), key=_rank)
    by_source: dict[str, Evidence] = {}
    for e in members:
        if e.tier != LLM_TIER:
            by_source.setdefault(e.source_id, e)
    voices = sorted(by_source.values(), key=lambda e: TIER_RANK.get(e.tier, 9)) or members[:1]
    first = voices[0]
    doubt = 1.0 - LONE.get(first.tier, 0.4) * METHOD_TRUST.get(first.method, 1.0)
    for e in voices[1:]:
        doubt *= 1.0 - CORROBORATION.get(e.tier, 0.0) * METHOD_TRUST.get(e.method, 1.0)
    return round((1.0 - doubt) * share, 3)


def decide(fd: FieldDef, groups: list[Group]) -> FieldResult | None:
    if not groups:
        return None
    win = groups[0]
    total = sum(g.support for g in groups)
    share = win.support / total if total else 0.0
    sources = {e.source_id for e in win.members if e.tier != LLM_TIER}
    head = win.speaker or win.head
    tiers = {e.tier for e in win.members}
    flag = None
    if fd.required and len(sources) <= 1 and tiers <= LOW_TIERS:
        flag = f"lone {head.tier} value" if head.tier != LLM_TIER else "LLM value only"
    return FieldResult(field=fd.name, value=head.value.value, unit=fd.unit if fd.type == "number" else None,
                       confidence=confidence(win, share), tier=head.tier,
                       source_url=head.url or None, snippet_id=head.snippet_id or None,
                       conflict=len(groups) > 1, support=round(win.support, 3), groups=groups, flag=flag,
                       snippet=head.snippet or None)


def reconcile(fields: tuple[FieldDef, ...], evidence: list[Evidence]) -> dict[str, FieldResult]:
    """Every field some source stated, decided; fields no source stated are absent."""
    by_field: dict[str, list[Evidence]] = {}
    for e in evidence:
        by_field.setdefault(e.field, []).append(e)
    results = {}
    for fd in fields:
        result = decide(fd, group_evidence(fd, by_field.get(fd.name, [])))
        if result is not None:
            results[fd.name] = result
    return results
