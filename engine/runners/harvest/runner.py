"""``harvest``: one product's specs from its sources, with evidence (DESIGN §6).

Phases, each a cancellation point: ``discover`` (the product's sources, best tier first; ``fast``
keeps two) -> ``fetch`` (local documents or HTTP, content-hash dedupe) -> ``extract`` (candidates per
page) -> ``reconcile`` (a value per field by tier and agreement; ``thorough`` then asks the LLM about
required fields still missing or in conflict) -> ``finalize`` (the outcome below).

Outcome (plain JSON; the engine persists it)::

    {"runner": "harvest", "profile", "product_id", "category",
     "fields": [{"field", "value", "unit", "confidence", "tier", "source_url", "snippet_id", "snippet", "conflict",
                 "support"}],
     "coverage": required found at confidence >= COVERAGE_CONFIDENCE / required,
     "confidence": mean over found fields, "conflicts": int,
     "missing": [required fields not found], "unconfirmed": [required fields found below COVERAGE_CONFIDENCE],
     "flagged": [{"field", "flag"}] (a required value only one low-tier source states),
     "sources": [{"source_id", "url", "domain", "tier", "status": ok|duplicate|error, "error", "content_hash"}],
     "llm": {"used": bool, ...}}

``support`` is the summed tier weight of the sources that agree with the value. ``snippet`` is the text the value
was read from on the page ``source_url`` names (whitespace collapsed, at most ``extract.MAX_SNIPPET`` characters;
the LLM's quote for a value only the LLM gave); ``snippet_id`` names that place on that page.
"""

from __future__ import annotations

from typing import Any

from engine.core.settings import BatchSettings, Profile
from engine.runners.base import Outcome, RunContext
from engine.runners.harvest import llm
from engine.runners.harvest.corpus import Corpus, Source, get_corpus
from engine.runners.harvest.extract import best_per_field, snippet_id
from engine.runners.harvest.fetch import Fetched, Fetcher
from engine.runners.harvest.fields import FieldDef
from engine.runners.harvest.prose import keyword_pattern
from engine.runners.harvest.reconcile import (
    LLM_TIER,
    LLM_WEIGHT,
    TIER_TRUST,
    Evidence,
    FieldResult,
    Group,
    decide,
    reconcile,
)
from engine.runners.harvest.values import Parsed, same_value
from engine.runners.registry import register

FAST_MAX_SOURCES = 2
# A required field counts toward coverage (the quality gate's input) only at this confidence: a value
# two sources dispute without a clear winner (a retailer against a retailer: 0.23) is reported but does
# not pass the gate. A lone retailer value (0.45) counts, flagged; an LLM answer (0.4) just counts.
COVERAGE_CONFIDENCE = 0.4
LLM_CONFIDENCE = TIER_TRUST[LLM_TIER]


def discover(corpus: Corpus, product_id: str, profile: Profile) -> tuple[Source, ...]:
    """The product's sources, best tier first; ``fast`` keeps the best two."""
    sources = corpus.sources(product_id)
    return sources[:FAST_MAX_SOURCES] if profile == Profile.FAST else sources


# In-process Python: its dispatch is posted, not awaited. On the embedded corpus a run takes ~7 ms and
# waiting for each dispatch's commit (~7 ms) cut throughput from ~495k to ~195-310k products/hour
# (bench/harvest.py, 2026-12-05). Its posted dispatch is committed within milliseconds, so a run that
# kills the process is on record as a crash unless it dies in its first few milliseconds.
@register("harvest", durable_dispatch=False)
def run_harvest(product: dict[str, Any], settings: BatchSettings, ctx: RunContext) -> Outcome:
    """Harvest one product. Source problems are recorded in the outcome; only a missing corpus or
    field definitions (or cancellation) fail the run."""
    product_id, category = str(product["product_id"]), str(product.get("category") or "")
    ctx.phase("discover")
    corpus = get_corpus(settings.corpus)
    fields = corpus.fields(category)
    sources = discover(corpus, product_id, settings.profile)
    if not sources:
        ctx.log("no source for this product in the corpus")

    ctx.phase("fetch")
    fetcher = Fetcher(corpus, ctx, category)
    fetched: list[Fetched] = []
    try:
        for source in sources:
            ctx.cancel.raise_if_cancelled()
            fetched.append(fetcher.fetch(source))
    finally:
        fetcher.close()
    failed = [f for f in fetched if f.status == "error"]
    if failed:
        ctx.log(f"{len(failed)} of {len(fetched)} sources failed: " +
                "; ".join(f"{f.source.source_id}: {f.error}" for f in failed[:5]), "warning")

    ctx.phase("extract")
    extractor = corpus.extractor(category)
    evidence: list[Evidence] = []
    texts: list[str] = []
    for order, page in enumerate(fetched):
        if page.status != "ok" or page.html is None:
            continue
        ctx.cancel.raise_if_cancelled()
        found = extractor.extract(page.html, product)
        s = page.source
        for c in best_per_field(found.candidates).values():
            evidence.append(Evidence(c.field, c.value, s.tier, s.source_id, s.url,
                                     snippet_id(page.content_hash or "", c.location), c.method, c.snippet, order))
        if settings.profile == Profile.THOROUGH:
            texts.extend(found.texts)  # the LLM's snippet search
        page.html = None  # the text is extracted; do not hold the page for the rest of the run

    ctx.phase("reconcile")
    results = reconcile(fields, evidence)
    if settings.profile == Profile.THOROUGH:
        llm_record = _ask_llm(product, fields, results, texts, settings, ctx)
    else:
        llm_record = {"used": False, "skipped": f"profile {settings.profile.value} does not ask the LLM"}

    ctx.phase("finalize")
    return _outcome(product_id, category, settings, fields, results, fetched, llm_record)


def _ask_llm(product: dict[str, Any], fields: tuple[FieldDef, ...], results: dict[str, FieldResult],
             texts: list[str], settings: BatchSettings, ctx: RunContext) -> dict[str, Any]:
    """Fill required fields still missing, and weigh in on conflicts, from the LLM's answer."""
    wanted = [f for f in fields if f.required and (f.name not in results or results[f.name].conflict)]
    if not wanted:
        return {"used": False, "skipped": "no required field is missing or in conflict"}
    snippets = {f.name: _snippets(f, results.get(f.name), texts) for f in wanted}
    answer = llm.ask(product, wanted, snippets, settings, ctx)
    for fd in wanted:
        parsed = answer.values.get(fd.name)
        if parsed is None:
            continue
        quote = answer.quotes[fd.name]
        vote = Evidence(fd.name, parsed, LLM_TIER, "llm", "", "", "llm", quote, order=10_000)
        held = results.get(fd.name)
        if held is None:  # only a field the rules could not find; the quote is its evidence
            results[fd.name] = FieldResult(fd.name, parsed.value, fd.unit if fd.type == "number" else None,
                                           LLM_CONFIDENCE, LLM_TIER, None, None, False, LLM_WEIGHT,
                                           [Group([vote])], flag=f"LLM answer quoting: {quote[:200]}",
                                           snippet=quote or None)
            continue
        agreeing = [g for g in held.groups if _agrees(fd, g, parsed)]
        if agreeing:  # a tie-breaker for the group it agrees with, never a new contender
            agreeing[0].members.append(vote)
            decided = decide(fd, sorted(held.groups, key=Group.sort_key))
            if decided is not None:
                results[fd.name] = decided
    return answer.record


def _agrees(fd: FieldDef, group: Group, parsed: Parsed) -> bool:
    return same_value(fd, group.head.value, parsed)


def _snippets(fd: FieldDef, held: FieldResult | None, texts: list[str]) -> list[str]:
    """What the pages say about a field: each conflicting statement, else text blocks naming it."""
    if held is not None:
        return [f"[{e.tier}] {e.snippet}" for g in held.groups for e in g.members if e.snippet]
    pattern = keyword_pattern(fd.keys)
    if pattern is None:
        return []
    seen: list[str] = []
    for text in texts:
        if pattern.search(text) and text not in seen:
            seen.append(text)
            if len(seen) >= llm.MAX_SNIPPETS_PER_FIELD:
                break
    return seen


def _outcome(product_id: str, category: str, settings: BatchSettings, fields: tuple[FieldDef, ...],
             results: dict[str, FieldResult], fetched: list[Fetched], llm_record: dict[str, Any]) -> Outcome:
    required = [f.name for f in fields if f.required]
    found = [results[f.name] for f in fields if f.name in results]
    missing = [name for name in required if name not in results]
    unconfirmed = [name for name in required if name in results and results[name].confidence < COVERAGE_CONFIDENCE]
    confirmed = len(required) - len(missing) - len(unconfirmed)
    return {
        "runner": "harvest",
        "profile": settings.profile.value,
        "product_id": product_id,
        "category": category,
        "fields": [r.to_dict() for r in found],
        "coverage": round(confirmed / len(required), 4) if required else 0.0,
        "confidence": round(sum(r.confidence for r in found) / len(found), 4) if found else 0.0,
        "conflicts": sum(1 for r in found if r.conflict),
        "missing": missing,
        "unconfirmed": unconfirmed,
        "flagged": [{"field": r.field, "flag": r.flag} for r in found if r.flag],
        "sources": [f.to_dict() for f in fetched],
        "llm": llm_record,
    }
