"""The click commands: parse options, call one library function, print the result.

No business logic here; errors are raised as SignflowError and turned into exit codes by
``signflow.cli.main``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from . import __version__
from .context import KINDS
from .data import load_data
from .errors import EXIT_OK, EXIT_PROBLEMS
from .generate import default_templates_dir, generate_pack
from .i18n import LANGUAGES, _
from .render import render_file
from .roster import load_roster

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback drawing a bar on a terminal; None (quiet) otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    bar: list = []

    def update(done: int, total: int) -> None:
        if not bar:
            bar.append(click.progressbar(length=total, label=label, file=sys.stderr))
            bar[0].__enter__()
        bar[0].update(done - bar[0].pos)

    try:
        yield update
    finally:
        if bar:
            bar[0].__exit__(None, None, None)


def _pdfa_option(f: Callable) -> Callable:
    return click.option("--pdfa", type=click.Choice(["2b", "none"]), default="2b",
                        show_default=True, help=_("PDF/A level of the PDF files."))(f)


def _jobs_option(f: Callable) -> Callable:
    return click.option("--jobs", type=click.IntRange(1, 64), default=None,
                        help=_("LibreOffice processes side by side (default: one per CPU)."))(f)


@click.group(help=_("signflow: generate, sign and verify the documents of an emulation cluster."))
@click.version_option(__version__, prog_name="signflow")
@click.option("--lang", type=click.Choice(LANGUAGES), help=_("Language of messages (vi, en)."))
@click.option("--debug", is_flag=True, help=_("Show full error details (tracebacks)."))
def cli(lang: str | None, debug: bool) -> None:
    # Both are handled in signflow.cli.main before click runs; declared here for --help.
    pass


@cli.command(help=_("Render one template with TOML or JSON data (later files override "
                    "earlier keys)."))
@click.argument("template", type=click.Path(path_type=Path))
@click.option("--data", "data_files", multiple=True, required=True, type=click.Path(path_type=Path),
              help=_("Data file (.toml or .json); may be repeated."))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=_("The .docx to write."))
def render(template: Path, data_files: tuple[Path, ...], out: Path) -> int:
    data = load_data(data_files)
    render_file(template, data, out)
    click.echo(_("Written: {path}").format(path=out))
    return EXIT_OK


@cli.command(help=_("Generate the year's pack: the cluster agreement and every member's "
                    "documents, with a manifest."))
@click.option("--roster", "roster_path", required=True, type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML)."))
@click.option("--data", "data_files", multiple=True, required=True, type=click.Path(path_type=Path),
              help=_("The year's content (TOML or JSON); may be repeated."))
@click.option("--templates", "templates_dir", type=click.Path(file_okay=False, path_type=Path),
              help=_("Folder of templates (default: the templates shipped with signflow)."))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help=_("Output folder."))
@click.option("--only", multiple=True, type=click.Choice(list(KINDS)),
              help=_("Only this kind of document; may be repeated."))
@click.option("--member", "members", multiple=True,
              help=_("Only this member's documents; may be repeated."))
@click.option("--pdf/--no-pdf", default=True, show_default=True,
              help=_("Also convert the documents to PDF."))
@_pdfa_option
@_jobs_option
def generate(roster_path: Path, data_files: tuple[Path, ...], templates_dir: Path | None,
             out_dir: Path, only: tuple[str, ...], members: tuple[str, ...], pdf: bool,
             pdfa: str, jobs: int | None) -> int:
    roster = load_roster(roster_path)
    data = load_data(data_files)
    with progress_bar(_("Converting to PDF")) as progress:
        entries = generate_pack(roster, data, out_dir, templates_dir, only, members,
                                pdf=pdf, pdfa=None if pdfa == "none" else pdfa,
                                workers=jobs, convert_progress=progress)
    year_dir = out_dir / str(roster.cluster.year)
    n_docs = sum(1 for e in entries if e.format == "docx")
    n_pdf = sum(1 for e in entries if e.format == "pdf")
    click.echo(_("Generated {n} document(s) in {path}").format(n=n_docs, path=year_dir))
    if pdf:
        click.echo(_("Converted {n} document(s) to PDF").format(n=n_pdf))
    click.echo(_("Manifest: {path}").format(path=year_dir / "manifest.json"))
    return EXIT_OK


@cli.group(help=_("Work with templates."))
def templates() -> None:
    pass


@templates.command("check", help=_("Check templates: syntax, variables, signature anchors."))
@click.argument("templates_dir", required=False, type=click.Path(path_type=Path))
@click.option("--roster", "roster_path", type=click.Path(path_type=Path),
              help=_("Roster to check against (default: the shipped 2019 example)."))
@click.option("--data", "data_files", multiple=True, type=click.Path(path_type=Path),
              help=_("Data to check against (default: the shipped 2019 example)."))
def templates_check(templates_dir: Path | None, roster_path: Path | None,
                    data_files: tuple[Path, ...]) -> int:
    from .lint import check_templates

    templates_dir = templates_dir or default_templates_dir()
    example = default_templates_dir() / "examples" / "cum-thi-dua-so-2-2019"
    roster = load_roster(roster_path or example / "roster.toml")
    data = load_data(data_files or [example / "data.toml"])
    problems = check_templates(templates_dir, roster, data)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(_("{n} problem(s) found.").format(n=len(problems)), err=True)
        return EXIT_PROBLEMS
    click.echo(_("Templates OK: {path}").format(path=templates_dir))
    return EXIT_OK


@cli.command(help=_("Convert documents to PDF/A with LibreOffice."))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help=_("Output folder."))
@_pdfa_option
@_jobs_option
@click.option("--timeout", type=click.FloatRange(1, 3600), default=60.0, show_default=True,
              help=_("Seconds allowed per document before LibreOffice is stopped."))
def convert(files: tuple[Path, ...], out_dir: Path, pdfa: str, jobs: int | None,
            timeout: float) -> int:
    from .convert import convert_documents, raise_for_failures, targets_in

    targets = targets_in(out_dir, files)
    with progress_bar(_("Converting to PDF")) as progress:
        report = convert_documents(targets, pdfa=None if pdfa == "none" else pdfa,
                                   workers=jobs, document_timeout=timeout, progress=progress)
    for done in report.converted:
        click.echo(_("{source} -> {target} ({pages} page(s))").format(
            source=done.source, target=done.target, pages=done.pages))
    raise_for_failures(report)
    return EXIT_OK
