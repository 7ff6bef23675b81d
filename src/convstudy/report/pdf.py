"""report.pdf from report.tex with latexmk, reproducibly, or a message saying how."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from ..files import atomic_path

log = logging.getLogger(__name__)

#: Debian packages that provide latexmk and everything report.tex uses.
LATEX_PACKAGES = "texlive-latex-base texlive-latex-recommended lmodern latexmk"


def pdf_instructions(tex: str | Path, latexmk: str = "latexmk") -> str:
    tex = Path(tex)
    return (
        f"{latexmk} not found on PATH: {tex.with_suffix('.pdf')} is not built. To build it, "
        f"install LaTeX (Debian/Ubuntu: apt-get install {LATEX_PACKAGES}) and rerun Snakemake "
        f"(report.pdf becomes a target when latexmk is found), or run "
        f"`cd {tex.parent} && latexmk -pdf {tex.name}`."
    )


def build_pdf(tex: str | Path, pdf_out: str | Path, latexmk: str = "latexmk") -> None:
    """Compile ``tex`` with latexmk in a scratch directory; move only a finished PDF into place."""
    tex, pdf_out = Path(tex).resolve(), Path(pdf_out).resolve()
    exe = shutil.which(latexmk)
    if exe is None:
        raise FileNotFoundError(pdf_instructions(tex, latexmk))
    pdf_out.parent.mkdir(parents=True, exist_ok=True)
    # A fixed scratch name: pdfTeX puts the output path into the PDF's ID.
    build = pdf_out.parent / f".{pdf_out.stem}.latexmk"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    try:
        cmd = [
            exe,
            "-pdf",
            "-interaction=nonstopmode",
            "-halt-on-error",
            "-file-line-error",
            f"-outdir={build}",
            tex.name,
        ]
        log.info("running %s (in %s)", " ".join(cmd), tex.parent)
        # Fixed dates make the same .tex give the same PDF.
        env = {**os.environ, "SOURCE_DATE_EPOCH": "0", "FORCE_SOURCE_DATE": "1"}
        proc = subprocess.run(cmd, cwd=tex.parent, capture_output=True, text=True, env=env)
        tex_log = build / tex.with_suffix(".log").name
        if proc.returncode != 0:
            details = tex_log.read_text(errors="replace") if tex_log.exists() else proc.stdout
            raise RuntimeError(
                f"latexmk failed on {tex} (exit {proc.returncode}); end of the LaTeX log:\n"
                + "\n".join(details.splitlines()[-40:])
            )
        log.info("latexmk output (end):\n%s", "\n".join(proc.stdout.splitlines()[-15:]))
        with atomic_path(pdf_out, suffix=".pdf") as tmp:
            shutil.copyfile(build / tex.with_suffix(".pdf").name, tmp)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    log.info("wrote %s", pdf_out)


def pdf_wanted(setting: str, latexmk: str = "latexmk") -> bool:
    """Whether report.pdf is a target: ``always``, ``never``, or ``auto`` (latexmk found)."""
    if setting == "always":
        return True
    if setting == "never":
        return False
    return shutil.which(latexmk) is not None
