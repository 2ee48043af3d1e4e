"""Plan Preview's HTML: a plan's totals, estimate, quality gate, categories and command; the settings snapshot."""

from __future__ import annotations

import shlex
from typing import Any

from dashboard.views.formats import esc, gate_words, section


def plan_html(summary: Any) -> str:
    """A plan's summary (engine.plan.PlanSummary): totals, estimate, categories and command.

    HTML, not Markdown: Markdown would turn the ``**`` or ``[x](...)`` in a category into formatting.
    """
    est, cfg = summary.estimate, summary.settings
    brands, workers = len(summary.brands), cfg.workers
    categories = ", ".join(f'<span class="cat">{esc(k)}</span>&nbsp;{v:,}' for k, v in summary.categories.items())
    basis = est.basis_text or ("from past runs" if est.basis == "history" else "profile default")
    rows = [("Estimated jobs", f"{est.job_count:,} (at most {est.max_job_count:,} with retries)"),
            ("Estimated runtime", f"{esc(est.runtime_text)} with {workers} worker{'s' if workers != 1 else ''} — "
                                  f"{est.seconds_per_product_low:.0f}–{est.seconds_per_product_high:.0f} s per product"),
            ("Estimate basis", esc(basis)),
            ("Quality gate", esc(gate_words(cfg.min_required_coverage))
             + (" (below it a product needs review)" if cfg.min_required_coverage > 0 else "")),
            ("Categories", categories)]
    if cfg.runner == "command" and cfg.command:
        rows.append(("Command", f"<code>{esc(shlex.join(cfg.command))}</code>"))
    return (f'<div class="plan"><div class="plan-title">{summary.total:,} products across {brands} '
            f'brand{"s" if brands != 1 else ""}</div>'
            + "".join(f'<div class="plan-line"><b>{label}</b> {value}</div>' for label, value in rows) + "</div>")

def snapshot_html(cfg: Any) -> str:
    """The settings frozen into a batch (engine.core.settings.BatchSettings), as a one-row table."""
    snapshot = {"profile": cfg.profile.value, "runner": cfg.runner,
                "LLM provider / model": f"{cfg.llm_provider} / {cfg.llm_model}", "workers": cfg.workers,
                "max run s": f"{cfg.max_run_seconds:g}", "max attempts": cfg.max_attempts,
                "domain cooldown / concurrency": f"{cfg.domain_cooldown_seconds:g} s / {cfg.domain_concurrency}",
                "provider rate": f"{cfg.provider_rate_per_minute:g}/min",
                "quality gate": gate_words(cfg.min_required_coverage)}
    if getattr(cfg, "executor", None):  # chosen (else the server's default: the estimate's basis names it)
        snapshot["executor"] = cfg.executor
    return (section("Settings snapshot frozen into the batch") + '<table class="fields"><thead><tr>'
            + "".join(f"<th>{esc(k)}</th>" for k in snapshot) + "</tr></thead><tbody><tr>"
            + "".join(f"<td>{esc(v)}</td>" for v in snapshot.values()) + "</tr></tbody></table>")
