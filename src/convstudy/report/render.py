"""The report's text: summary tables in CSV, report.md and report.tex rendered from
Jinja2 templates (their context: :mod:`.context`), every value escaped for its
format on output.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2
from markupsafe import Markup

from ..files import atomic_path
from . import templates
from .context import report_context
from .results import (
    AGGREGATE_FIELDS,
    STEP_FIELDS,
    SUMMARY_FIELDS,
    aggregate_rows,
    group_metrics,
    load_metrics,
    step_rows,
    summary_rows,
    write_csv,
)

log = logging.getLogger(__name__)

_TEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "×": r"\texttimes{}",
    "→": r"$\rightarrow$",
    "±": r"$\pm$",
    "°": r"\textdegree{}",
    "…": r"\dots{}",
}


def escape_tex(text) -> str:
    """Text with every LaTeX special character escaped (class and variant names, prose)."""
    return "".join(_TEX_SPECIALS.get(ch, ch) for ch in str(text))


_MD_SPECIALS = set("\\`*_[]<>|")


def escape_md(text) -> str:
    return "".join("\\" + ch if ch in _MD_SPECIALS else ch for ch in str(text))


def make_environment(template_dir: str | Path, flavor: str) -> jinja2.Environment:
    """Jinja2 environment that escapes every value for ``flavor`` ('md' or 'tex').

    Values are escaped on output unless marked with the ``raw`` filter, so a
    template cannot forget to escape a class name. LaTeX templates use
    ``((* block *))``, ``((( value )))`` and ``((= comment =))`` to keep braces free.
    """
    escape = {"md": escape_md, "tex": escape_tex}[flavor]
    delimiters = {}
    if flavor == "tex":
        delimiters = dict(
            block_start_string="((*",
            block_end_string="*))",
            variable_start_string="(((",
            variable_end_string=")))",
            comment_start_string="((=",
            comment_end_string="=))",
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=lambda v: v if isinstance(v, Markup) else escape(v),
        **delimiters,
    )
    env.filters["raw"] = Markup
    return env


def render_template(template: str | Path, context: Mapping, flavor: str) -> str:
    template = Path(template)
    env = make_environment(template.parent, flavor)
    return env.get_template(template.name).render(**context)


def render_report(
    metrics_paths: Sequence[str | Path],
    *,
    parts: Mapping[str, Mapping],
    seed: int | None,
    md_template: str | Path = templates.MARKDOWN,
    tex_template: str | Path = templates.LATEX,
    md_out: str | Path,
    tex_out: str | Path,
    summary_out: str | Path,
    aggregates_out: str | Path,
    steps_out: str | Path,
) -> dict:
    """Write summary.csv (per replicate), aggregates.csv and steps.csv, report.md and
    report.tex; return the template context."""
    grouped = group_metrics(load_metrics(metrics_paths), parts)
    write_csv(summary_out, SUMMARY_FIELDS, summary_rows(grouped, parts))
    write_csv(aggregates_out, AGGREGATE_FIELDS, aggregate_rows(grouped, parts))
    write_csv(steps_out, STEP_FIELDS, step_rows(grouped, parts))
    context = report_context(parts, grouped, seed)
    for template, out, flavor in ((md_template, md_out, "md"), (tex_template, tex_out, "tex")):
        text = render_template(template, context, flavor)
        with atomic_path(out, suffix=Path(out).suffix) as tmp:
            tmp.write_text(text)
    for item in context["overview"]:
        log.info("%s: %s", item["label"], item["status"])
    return context
