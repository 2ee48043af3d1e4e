"""The dashboard's one colour table, as CSS variables (``--il-*``) and, where Bokeh needs a concrete colour, as hex.

Every stylesheet and inline style of the views names a colour as ``var(--il-<name>)``; ``ROOT_CSS`` defines the
variables once on each tab's root layout (custom properties inherit into every nested pane and shadow root).
Bokeh properties (chart lines, the header bar, the counters' number colour) take ``hex_of(name)``, read from the
same table. The names are tones (Tailwind's slate, green, red ...) plus a few roles the builder's grid and the
brand order use; what a colour *means* lives in the maps below (item states, batch states, results, outcomes).
"""

from __future__ import annotations

PALETTE = {
    # neutrals
    "white": "#ffffff", "slate-50": "#f8fafc", "slate-100": "#f1f5f9", "slate-200": "#e2e8f0", "slate-300": "#cbd5e1",
    "slate-400": "#94a3b8", "slate-500": "#64748b", "slate-600": "#475569", "slate-700": "#334155",
    "slate-800": "#1e293b", "slate-900": "#0f172a", "table-head": "#f5f7fa", "body-text": "#212529",
    # status tones
    "green-50": "#f0fdf4", "green-100": "#dcfce7", "green-200": "#bbf7d0", "green-600": "#16a34a", "green-800": "#166534",
    "red-50": "#fef2f2", "red-100": "#fee2e2", "red-200": "#fecaca", "red-600": "#dc2626", "red-700": "#b91c1c",
    "red-800": "#991b1b",
    "amber-50": "#fffbeb", "amber-100": "#fef3c7", "amber-200": "#fde68a", "amber-600": "#d97706", "amber-800": "#92400e",
    "yellow-400": "#facc15", "yellow-600": "#ca8a04", "orange-600": "#ea580c", "purple-600": "#9333ea",
    "blue-50": "#eff6ff", "blue-200": "#bfdbfe", "blue-600": "#2563eb", "blue-700": "#1d4ed8", "blue-800": "#1e40af",
    "indigo-50": "#eef2ff", "indigo-800": "#3730a3",
    # the header bar and the plan chart's bars; keyboard focus; the builder's selected rows
    "accent": "#2b6cb0", "focus": "#0072b5", "row-selected": "#dcebfa", "row-selected-hover": "#c9e0f7",
    # the brand order's cards and buttons (GitHub's greys) and its pinned cards (gold)
    "muted-text": "#57606a", "control-text": "#24292f", "control-bg": "#f6f8fa", "control-hover": "#eaeef2",
    "control-border": "#c6ccd2", "card-border": "#d0d7de", "disabled-text": "#a0a7ae",
    "pin": "#e0b84a", "pin-border": "#b8912b", "pin-bg": "#fff8e1", "pin-text": "#3d2e00",
}


def var(name: str) -> str:
    """``var(--il-<name>)`` for a stylesheet or an inline style; a KeyError names an unknown colour at import."""
    PALETTE[name]
    return f"var(--il-{name})"


def hex_of(name: str) -> str:
    """The concrete colour, for Bokeh properties that cannot resolve a CSS variable."""
    return PALETTE[name]


ROOT_CSS = ":host {\n" + "".join(f"  --il-{name}: {value};\n" for name, value in PALETTE.items()) + "}\n"

# What the colours mean. An item's state; a batch's state (where it is, not how it went: "completed" is neutral,
# its result carries the colour); a finished batch's result; what came out of the items, in the bar's order.
ITEM_COLORS = {"queued": var("slate-500"), "running": var("blue-600"), "completed": var("green-600"),
               "failed": var("red-600"), "skipped": var("purple-600"), "stopped": var("orange-600")}
BATCH_COLORS = {"planned": var("slate-500"), "queued": var("slate-500"), "running": var("blue-600"), "paused": var("amber-600"),
                "stopping": var("orange-600"), "stopped": var("red-700"), "completed": var("slate-600")}
RESULT_COLORS = {"succeeded": var("green-600"), "partial": var("amber-600"), "failed": var("red-600")}
OUTCOME_COLORS = {"succeeded": var("green-600"), "needs_review": var("yellow-400"), "failed": var("red-600"),
                  "skipped": var("purple-600"), "stopped": var("orange-600")}
NO_STATE_COLOR = var("slate-400")  # "no batch", a zero counter
UNKNOWN_STATE_COLOR = var("slate-500")

CARD_STYLES = {"background": var("white"), "border": f"1px solid {var('slate-200')}", "border-radius": "10px",
               "padding": "10px 14px", "box-shadow": "0 1px 2px rgba(15, 23, 42, 0.04)"}
PAGE_STYLES = {"background": var("slate-50")}

BUTTON_CSS = """
.bk-btn:disabled, .bk-btn[disabled] { opacity: 0.38; filter: grayscale(70%); cursor: not-allowed; }
.bk-btn { font-weight: 600; }
"""

# The stylesheet of every HTML pane (the fragments of formats, summary_html, plan_html, evidence_html)
HTML_CSS = """
:host { font-family: inherit; font-size: 13.5px; color: var(--il-slate-800); width: 100%; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.badge { display: inline-block; color: var(--il-white); border-radius: 999px; padding: 1px 9px; font-size: 11.5px;
         font-weight: 600; letter-spacing: .02em; text-transform: uppercase; margin-right: 6px; white-space: nowrap; }
.head .title { font-size: 22px; font-weight: 650; margin-bottom: 4px; }
.head .idline { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; margin-bottom: 2px; }
.head .bid { font-size: 14px; background: var(--il-slate-100); padding: 2px 6px; border-radius: 4px; word-break: break-all; }
.head .meta { color: var(--il-slate-500); }
.result-badge { display: inline-block; color: var(--il-white); border-radius: 6px; padding: 2px 12px; font-size: 14px;
                font-weight: 700; letter-spacing: .03em; text-transform: uppercase; margin-right: 4px; white-space: nowrap; }
.head .why { margin-top: 4px; color: var(--il-slate-700); overflow-wrap: anywhere; white-space: pre-wrap; }
.head .why .k, .k { color: var(--il-slate-500); }
.obar { display: flex; height: 14px; border-radius: 7px; overflow: hidden; background: var(--il-slate-200); margin: 4px 0 4px 0; }
.obar .seg { display: block; height: 100%; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 14px; color: var(--il-slate-600); font-size: 12.5px; margin-bottom: 4px; }
.legend .key { display: inline-flex; align-items: center; gap: 5px; }
.legend .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; }
.progress-line .result-text { font-size: 15px; font-weight: 600; }
.group { padding: 4px 2px; }
.group .reason-text { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
                      color: var(--il-red-800); overflow-wrap: anywhere; white-space: pre-wrap; }
.group .count { font-weight: 700; font-size: 15px; margin-right: 6px; }
pre.events { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; white-space: pre-wrap;
             overflow-wrap: anywhere; background: var(--il-slate-50); border: 1px solid var(--il-slate-200); border-radius: 6px; padding: 8px;
             margin: 6px 0 0 0; max-height: 360px; overflow-y: auto; }
.head .warn { color: var(--il-red-700); margin-top: 4px; font-weight: 600; }
.progress-line { display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: baseline; font-size: 14px; }
.progress-line .done { font-size: 18px; }
.progress-line .sep { color: var(--il-slate-300); }
.progress-line .band, .progress-line .speed { color: var(--il-slate-600); }
.empty { color: var(--il-slate-400); padding: 6px 2px; }
.more { color: var(--il-slate-500); padding-top: 4px; }
.run, .fail, .event { padding: 6px 2px; border-bottom: 1px solid var(--il-slate-100); }
.line { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
.line.sub { color: var(--il-slate-500); }
.seq { color: var(--il-slate-500); font-variant-numeric: tabular-nums; }
.name { font-weight: 600; overflow-wrap: anywhere; }
.meta, .actor, .time { color: var(--il-slate-500); font-size: 12.5px; font-variant-numeric: tabular-nums; }
.time, .seq, .kind, .line code { flex: none; white-space: nowrap; }  /* never "07:3" */
.actor { margin-left: auto; }
.kind { font-size: 11px; text-transform: uppercase; color: var(--il-slate-600); background: var(--il-slate-100); border-radius: 4px; padding: 0 5px; }
.trail { margin-top: 4px; display: flex; flex-wrap: wrap; align-items: center; gap: 2px; }
.ph { font-size: 11.5px; padding: 1px 7px; border-radius: 999px; color: var(--il-slate-400); border: 1px solid var(--il-slate-200); }
.ph.past { color: var(--il-green-600); border-color: var(--il-green-200); background: var(--il-green-50); }
.ph.now { color: var(--il-white); background: var(--il-blue-600); border-color: var(--il-blue-600); font-weight: 600; }
.arrow { color: var(--il-slate-400); margin: 0 3px; }
.err { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; color: var(--il-red-800);
       background: var(--il-red-50); border-radius: 4px; padding: 3px 6px; margin-top: 3px; overflow-wrap: anywhere; white-space: pre-wrap; }
.reason { color: var(--il-slate-700); margin-top: 2px; overflow-wrap: anywhere; }
.pill { font-size: 11px; border-radius: 999px; padding: 0 7px; font-weight: 600; }
.pill.bad { background: var(--il-red-100); color: var(--il-red-800); }
.pill.retry { background: var(--il-amber-100); color: var(--il-amber-800); }
.pill.ok { background: var(--il-green-100); color: var(--il-green-800); }
table.fields { width: 100%; border-collapse: collapse; margin-top: 8px; table-layout: fixed; }  /* fits its card */
table.fields th { text-align: left; font-weight: 600; color: var(--il-slate-600); background: var(--il-table-head); padding: 5px 8px;
                  border-bottom: 1px solid var(--il-slate-200); font-size: 12.5px; }
table.fields td { padding: 5px 8px; border-bottom: 1px solid var(--il-slate-100); vertical-align: top; }
td.fname { font-weight: 600; overflow-wrap: break-word; }
td.fval { overflow-wrap: break-word; word-break: normal; hyphens: none; }  /* whole words: never "Doub/le-/shot" */
td.src { overflow-wrap: anywhere; }  /* a URL may break anywhere */
table.fields tr.fhead td { border-bottom: none; padding-bottom: 1px; }
table.fields tr.fsrc td { padding-top: 0; font-size: 12.5px; }
td.src .snippet { color: var(--il-slate-600); font-size: 12px; margin-top: 2px; }
/* the source's words: a quote under its URL, wrapping anywhere (cut at 1,000 characters by the engine), its bidi
   controls kept inside it */
td.src .snippet.quote { margin: 3px 0 2px 0; padding: 2px 0 2px 8px; border-left: 3px solid var(--il-slate-200);
  color: var(--il-slate-700); font-size: 13px; line-height: 1.45; unicode-bidi: isolate; white-space: normal; }
td.src a { color: var(--il-blue-700); text-decoration: none; }
.tier { font-size: 11.5px; background: var(--il-indigo-50); color: var(--il-indigo-800); border-radius: 4px; padding: 1px 6px;
        display: inline-block; max-width: 12em; overflow-wrap: anywhere; }
.conf { display: inline-flex; align-items: center; gap: 6px; white-space: nowrap; font-variant-numeric: tabular-nums; }
.conf .bar { display: inline-block; width: 46px; height: 6px; background: var(--il-slate-200); border-radius: 3px; overflow: hidden; }
.conf .bar span { display: block; height: 100%; }
.alert { border-radius: 6px; padding: 8px 12px; font-size: 14px; }
.alert.danger { background: var(--il-red-50); color: var(--il-red-800); border: 1px solid var(--il-red-200); }
.alert.warning { background: var(--il-amber-50); color: var(--il-amber-800); border: 1px solid var(--il-amber-200); }
.alert.success { background: var(--il-green-50); color: var(--il-green-800); border: 1px solid var(--il-green-200); }
.alert.info { background: var(--il-blue-50); color: var(--il-blue-800); border: 1px solid var(--il-blue-200); }
.alert.secondary { background: var(--il-slate-50); color: var(--il-slate-600); border: 1px solid var(--il-slate-200); }
.plan { overflow-wrap: anywhere; }
.plan-title { font-size: 24px; font-weight: 650; margin: 4px 0 8px 0; }
.plan-line { line-height: 1.5; }
.plan .cat { font-weight: 500; }
.section { font-size: 15px; font-weight: 650; color: var(--il-slate-900); }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.kv .k { color: var(--il-slate-500); }
"""

# The tables (Tabulator) of the summary and History
TABLE_CSS = """
.tabulator { font-size: 13px; border-radius: 6px; }
.tabulator .tabulator-header .tabulator-col { background: var(--il-table-head); }
.tabulator-row .tabulator-cell { padding: 5px 8px; }
.tabulator-row .tabulator-cell[tabulator-field="product_id"], .tabulator-row .tabulator-cell[tabulator-field="batch_run_id"] {
  white-space: normal; overflow-wrap: anywhere; }  /* an id wraps, never clipped (a name is cut: its tooltip is whole) */
"""
