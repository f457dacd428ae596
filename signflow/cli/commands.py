"""The click commands: parse options, call one library function, print the result.

No business logic here; errors are raised as SignflowError and turned into exit codes by
``signflow.cli.main``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from signflow import __version__, vn
from signflow.cli.secrets import (
    KeyOwner,
    check_key_source,
    key_source_options,
    open_key_source,
)
from signflow.documents.context import KINDS
from signflow.errors import EXIT_OK, EXIT_PROBLEMS
from signflow.i18n import LANGUAGES, _, date_text, time_text
from signflow.roster import Role, load_roster

if TYPE_CHECKING:
    from signflow.validation.verdicts import PadesLevel

_EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


class FiniteFloatRange(click.FloatRange):
    """A number in a range, never NaN or an infinity (``nan`` passes every comparison of
    click's own range check, and would disable a timeout)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(_("{value} is not a finite number").format(value=value), param, ctx)
        return number


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress callback drawing a bar on a terminal; None (quiet) otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    bar: list = []
    closed: list[bool] = []

    def update(done: int, total: int) -> None:
        if closed:
            return
        if not bar:
            bar.append(click.progressbar(length=total, label=label, file=sys.stderr))
            bar[0].__enter__()
        bar[0].update(done - bar[0].pos)
        if done >= total:  # finished: the line ends here, before the next step's bar
            closed.append(True)
            bar[0].__exit__(None, None, None)

    try:
        yield update
    finally:
        if bar and not closed:
            bar[0].__exit__(None, None, None)


# Placeholders in the help, in the user's language (the module is defined again when the
# language changes: signflow.cli.main).
FILE = _("FILE")
FOLDER = _("FOLDER")
MEMBER = _("MEMBER")


def _pdfa_option(f: Callable) -> Callable:
    return click.option("--pdfa", type=click.Choice(["2b", "none"]), default="2b",
                        show_default=True, help=_("PDF/A level of the PDF files."))(f)


def _jobs_option(f: Callable) -> Callable:
    return click.option("--jobs", type=click.IntRange(1, 64), default=None, metavar=_("N"),
                        help=_("LibreOffice processes side by side (default: one per CPU)."))(f)


def _service_options(f: Callable) -> Callable:
    """The roster, trust roots and timestamp authority of a long-running service (the
    agent, the portal), each optional on the command line (the settings file may say)."""
    f = click.option("--tsa", "tsa_url", metavar="URL",
                     help=_("URL of the timestamp authority (RFC 3161)."))(f)
    f = click.option("--trust", multiple=True, metavar=FILE,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help=_("Trust root (PEM or DER); may be repeated."))(f)
    return click.option("--roster", "roster_path", metavar=FILE,
                        type=click.Path(path_type=Path),
                        help=_("Roster of the cluster (TOML)."))(f)


@click.group(help=_("signflow: generate, sign and verify the documents of an emulation cluster."))
@click.version_option(__version__, prog_name="signflow")
@click.option("--lang", type=click.Choice(LANGUAGES), help=_("Language of messages (vi, en)."))
@click.option("--debug", is_flag=True, help=_("Show full error details (tracebacks)."))
@click.option("--config", "config_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Workspace settings (default: signflow.toml here or in a folder above)."))
@click.pass_context
def cli(ctx: click.Context, lang: str | None, debug: bool, config_path: Path | None) -> None:
    # --lang and --debug are handled in signflow.cli.main before click runs.
    from signflow.cli.config import default_map, find_config, load_workspace

    path = config_path or find_config()
    ctx.obj = {"config": path}
    defaults = default_map(load_workspace(path)) if path is not None else {}
    if defaults:
        ctx.default_map = defaults
    _required_unless_given(ctx.command, defaults)


def _required_unless_given(group: click.Command, defaults: dict[str, Any]) -> None:
    """An option the workspace's signflow.toml supplies is not required on the command line
    (nor shown as such in the help); outside a workspace it is again. Every run sets this
    afresh, as one process may run several commands (tests, the agent)."""
    for name, command in getattr(group, "commands", {}).items():
        given = defaults.get(name) or {}
        for param in command.params:
            required = getattr(param, "_signflow_required", None)
            if required is None:
                required = param.required
                param._signflow_required = required
            param.required = required and param.name not in given
        _required_unless_given(command, given if isinstance(given, dict) else {})


@cli.command(help=_("Give member documents their number and date of issue (the clerical "
                    "office, after the head has signed and before the seal): the next "
                    "number of the year in the member's register of outgoing documents."))
@click.argument("pdfs", metavar=_("PDF|FOLDER..."), nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--roster", "roster_path", metavar=FILE, required=True,
              type=click.Path(path_type=Path), help=_("Roster of the cluster (TOML)."))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger (default: signflow-ledger.sqlite next to the documents)."))
def number(pdfs: tuple[Path, ...], roster_path: Path, ledger_path: Path | None) -> int:
    from signflow.ledger import default_ledger_path
    from signflow.signing.numbering import number_documents

    roster = load_roster(roster_path)
    named = documents_named(pdfs)
    with open_ledger(ledger_path or default_ledger_path(named[0])) as ledger:
        outcomes = number_documents(
            named, roster, ledger, on_wait=tell_waiting,
            on_skip=lambda path, reason: click.echo(_("{path}: left as it is: {reason}").format(
                path=path, reason=reason)))
    for outcome in outcomes:
        click.echo(_("{path}: {line}, {date} — the seal of {member} may follow").format(
            path=outcome.path, line=outcome.number_line, date=vn.date_words(outcome.issued),
            member=outcome.member))
    return EXIT_OK


@cli.command(help=_("The register of outgoing documents kept in the ledger: print it, or "
                    "write it as CSV or as a printable HTML page."))
@click.argument("workspace", metavar=_("[FOLDER]"), required=False,
                type=click.Path(path_type=Path))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger (default: the workspace's)."))
@click.option("--roster", "roster_path", metavar=FILE, type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML), for the units' names."))
@click.option("--member", "member_id", metavar=MEMBER, help=_("Only this member."))
@click.option("--year", metavar=_("YEAR"), type=click.IntRange(1990, 2200),
              help=_("Only this year."))
@click.option("--csv", "csv_path", metavar=FILE, type=click.Path(dir_okay=False, path_type=Path),
              help=_("Write the register as CSV."))
@click.option("--html", "html_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Write the register as a printable HTML page."))
def register(workspace: Path | None, ledger_path: Path | None, roster_path: Path | None,
             member_id: str | None, year: int | None, csv_path: Path | None,
             html_path: Path | None) -> int:
    from signflow._internal.files import atomic_write_bytes
    from signflow.errors import InputError
    from signflow.ledger import LEDGER_NAME
    from signflow.output.tables import render_table
    from signflow.signing.numbering import (
        register_csv,
        register_gaps,
        register_html,
        register_rows,
    )

    path = ledger_path or (workspace or Path.cwd()) / LEDGER_NAME
    if not path.is_file():
        raise InputError(_("no ledger at {path}").format(path=path))
    roster = load_roster(roster_path) if roster_path else None
    with open_ledger(path, read_only=True) as ledger:
        rows = register_rows(ledger, member_id, year)
    if csv_path:
        atomic_write_bytes(csv_path, register_csv(rows).encode("utf-8"))
        click.echo(_("Register written: {path}").format(path=csv_path))
    if html_path:
        atomic_write_bytes(html_path, register_html(rows, roster).encode("utf-8"))
        click.echo(_("Register written: {path}").format(path=html_path))
    if not csv_path and not html_path:
        if not rows:
            click.echo(_("No document has been numbered yet."))
        else:
            click.echo(render_table(
                [_("Member"), _("Number"), _("Date of issue"), _("Document")],
                [[str(r["member"]), vn.number_line(int(r["number"]), str(r["symbol"]))
                  + (" (" + _("not used (interrupted)") + ")" if r.get("unused") else ""),
                  str(r["issued"] or ""), Path(str(r["path"] or "")).name] for r in rows]))
    gaps = register_gaps(rows)
    for gap in gaps:
        click.echo(_("warning: {problem}").format(problem=gap), err=True)
    return EXIT_PROBLEMS if gaps else EXIT_OK


def open_ledger(path: Path, read_only: bool = False, missing_ok: bool = False) -> Any:
    """The ledger, checked against what the workspace remembers of it: one the workspace
    used before may not be missing, empty or replaced (the history would restart).
    ``missing_ok``: None for a ledger that does not exist and never did."""
    import datetime as dt
    import hashlib

    from signflow.cli.config import known_ledger, remember_ledger
    from signflow.errors import InputError
    from signflow.ledger import Ledger

    if path.is_symlink():
        raise InputError(_("the ledger {path} is a symbolic link: name the ledger itself"
                           ).format(path=path))
    config = _workspace_config()
    known = known_ledger(config, path) if config is not None else None
    if known is not None and not path.is_file():
        raise InputError(_("the ledger {path} is missing: the workspace has used it since "
                           "{date}; restore it from a backup (a new one would restart the "
                           "history)").format(path=path, date=date_text(known.get("created", "?"))))
    if missing_ok and not path.is_file():
        return None
    ledger = Ledger(path, read_only=read_only)
    try:
        first = ledger.first_event()
        if known is not None and (first is None or first.hash != known.get("first_event")):
            raise InputError(_("the ledger {path} is not the one the workspace has used since "
                               "{date} (its history was emptied or replaced); restore it "
                               "from a backup").format(path=path,
                                                       date=date_text(known.get("created",
                                                                                "?"))))
        if known is not None:
            present = {str(a.seq): hashlib.sha256(a.token).hexdigest() for a in ledger.anchors()}
            recorded = known.get("anchors", {})
            gone = sorted(int(seq) for seq, digest in recorded.items()
                          if present.get(seq) != digest) if isinstance(recorded, dict) else [0]
            if gone:
                raise InputError(_(
                    "the ledger {path} lost timestamps the workspace saw in it (of events "
                    "{events}): they were removed or replaced; restore it from a backup"
                ).format(path=path, events=", ".join(map(str, gone))))
        if known is None and config is not None and first is not None and not read_only:
            remember_ledger(config, path, first.hash,
                            dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    except BaseException:
        ledger.close()
        raise
    return ledger


def documents_named(pdfs: tuple[Path, ...]) -> list[Path]:
    """The PDF files a command works on: those named, every PDF under a folder named, or,
    with none named inside a workspace, the documents of the workspace's year."""
    from signflow.errors import InputError

    if not pdfs:
        config = _workspace_config()
        if config is None:
            raise InputError(_("name the PDF files or a folder (or run the command inside a "
                               "workspace: signflow init)"))
        from signflow.cli.config import load_workspace

        ws = load_workspace(config)
        if ws.roster is None or ws.out is None:
            raise InputError(_("{path}: roster and out are needed to find the year's "
                               "documents").format(path=config))
        year_dir = ws.out / str(load_roster(ws.roster).cluster.year)
        found = _pdfs_under(year_dir)
        if not found:
            raise InputError(_("no documents in {path} yet: run signflow generate").format(
                path=year_dir))
        return found
    named: list[Path] = []
    for path in pdfs:
        named += _pdfs_under(path) if path.is_dir() else [path]
    if not named:
        raise InputError(_("no PDF files in {path}").format(
            path=", ".join(str(p) for p in pdfs)))
    return named


def _pdfs_under(folder: Path) -> list[Path]:
    """Every PDF below ``folder`` in a stable order, hidden files and folders left out
    (temporary files, generate's staging)."""
    return sorted(p for p in folder.rglob("*.pdf")
                  if p.is_file() and not any(part.startswith(".")
                                             for part in p.relative_to(folder).parts))


def _workspace_config() -> Path | None:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    config = obj.get("config") if isinstance(obj, dict) else None
    return config if isinstance(config, Path) else None


def _anchor(ledger: Any, tsa_url: str) -> Any:
    """Timestamp the chain head, and let the workspace remember the token."""
    import datetime as dt
    import hashlib

    from signflow.cli.config import remember_ledger
    from signflow.signing.timestamps import tsa_stamp

    made = ledger.anchor(tsa_url, tsa_stamp(tsa_url))
    config = _workspace_config()
    first = ledger.first_event()
    if made is not None and config is not None and first is not None:
        remember_ledger(config, ledger.path, first.hash,
                        dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        anchors={str(made.seq): hashlib.sha256(made.token).hexdigest()})
    return made


def anchor_ledger(ledger: Any, tsa_url: str | None, quiet: bool = False) -> None:
    """Timestamp the chain head after a signing or archive; a failure is said (the audit
    will report the uncovered events) but does not undo the signatures made. ``quiet``:
    after a failed command, whose own error is the message that matters."""
    from signflow.errors import SignflowError, failure_reason

    if quiet:
        try:
            if tsa_url:
                _anchor(ledger, tsa_url)
        except Exception:  # noqa: BLE001, S110 - the command's own error is reported
            pass
        return
    if not tsa_url:
        click.echo(_("note: the ledger was not timestamped (no --tsa): signflow log --verify "
                     "will report these signings until signflow log --anchor is run"),
                   err=True)
        return
    try:
        _anchor(ledger, tsa_url)
    except Exception as exc:  # reported, not lost: the audit names the uncovered events
        message = exc.message if isinstance(exc, SignflowError) else failure_reason(exc)
        click.echo(_("warning: the ledger could not be timestamped: {reason}").format(
            reason=message), err=True)


@cli.command(help=_("Render one template with TOML or JSON data (later files override "
                    "earlier keys)."))
@click.argument("template", metavar=_("TEMPLATE"), type=click.Path(path_type=Path))
@click.option("--data", "data_files", metavar=FILE, multiple=True, required=True,
              type=click.Path(path_type=Path),
              help=_("Data file (.toml or .json); may be repeated."))
@click.option("--out", metavar=FILE, required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("The .docx to write."))
def render(template: Path, data_files: tuple[Path, ...], out: Path) -> int:
    from signflow.documents.data import load_data
    from signflow.documents.render import render_file

    data = load_data(data_files)
    render_file(template, data, out)
    click.echo(_("Written: {path}").format(path=out))
    return EXIT_OK


@cli.command(help=_("Generate the year's pack: the cluster agreement and every member's "
                    "documents, with a manifest."))
@click.option("--roster", "roster_path", metavar=FILE, required=True,
              type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML)."))
@click.option("--data", "data_files", metavar=FILE, multiple=True, required=True,
              type=click.Path(path_type=Path),
              help=_("The year's content (TOML or JSON); may be repeated."))
@click.option("--templates", "templates_dir", metavar=FOLDER,
              type=click.Path(file_okay=False, path_type=Path),
              help=_("Folder of templates (default: the templates shipped with signflow)."))
@click.option("--out", "out_dir", metavar=FOLDER, required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help=_("Output folder."))
@click.option("--only", multiple=True, type=click.Choice(list(KINDS)),
              help=_("Only this kind of document; may be repeated."))
@click.option("--member", "members", metavar=MEMBER, multiple=True,
              help=_("Only this member's documents; may be repeated."))
@click.option("--pdf/--no-pdf", default=True, show_default=True,
              help=_("Also convert the documents to PDF."))
@_pdfa_option
@_jobs_option
@click.option("--force", is_flag=True,
              help=_("Regenerate documents even if they already carry signatures."))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger (default: signflow-ledger.sqlite in the output folder)."))
def generate(roster_path: Path, data_files: tuple[Path, ...], templates_dir: Path | None,
             out_dir: Path, only: tuple[str, ...], members: tuple[str, ...], pdf: bool,
             pdfa: str, jobs: int | None, force: bool, ledger_path: Path | None) -> int:
    from signflow.documents.data import load_data
    from signflow.documents.generate import generate_pack
    from signflow.ledger import LEDGER_NAME

    roster = load_roster(roster_path)
    data = load_data(data_files)
    ledger_path = ledger_path or out_dir / LEDGER_NAME
    if pdf:  # the workspace's checks of its ledger, before anything is written
        open_ledger(ledger_path).close()
    with progress_bar(_("Filling the templates")) as filling, \
            progress_bar(_("Converting to PDF")) as progress:
        entries = generate_pack(roster, data, out_dir, templates_dir, only, members,
                                progress=(lambda i, n, _doc: filling(i + 1, n))
                                if filling else None,
                                pdf=pdf, pdfa=None if pdfa == "none" else pdfa,
                                workers=jobs, convert_progress=progress, force=force,
                                on_wait=tell_waiting, ledger_path=ledger_path,
                                on_warning=tell_warning)
    year_dir = out_dir / str(roster.cluster.year)
    n_docs = sum(1 for e in entries if e.format == "docx")
    n_pdf = sum(1 for e in entries if e.format == "pdf")
    click.echo(_("Generated {n} document(s) in {path}").format(n=n_docs, path=year_dir))
    if pdf:
        click.echo(_("Converted {n} document(s) to PDF").format(n=n_pdf))
    click.echo(_("Manifest: {path}").format(path=year_dir / "manifest.json"))
    return EXIT_OK


def tell_warning(message: str) -> None:
    click.echo(_("warning: {message}").format(message=message), err=True)


@cli.group(help=_("Work with templates."))
def templates() -> None:
    pass


@templates.command("check", help=_("Check templates: syntax, variables, signature anchors."))
@click.argument("templates_dir", metavar=_("[FOLDER]"), required=False,
                type=click.Path(path_type=Path))
@click.option("--roster", "roster_path", metavar=FILE, type=click.Path(path_type=Path),
              help=_("Roster to check against (default: the shipped 2019 example)."))
@click.option("--data", "data_files", metavar=FILE, multiple=True,
              type=click.Path(path_type=Path),
              help=_("Data to check against (default: the shipped 2019 example)."))
def templates_check(templates_dir: Path | None, roster_path: Path | None,
                    data_files: tuple[Path, ...]) -> int:
    from signflow.documents.data import load_data
    from signflow.documents.generate import default_templates_dir
    from signflow.documents.lint import check_templates
    from signflow.documents.resources import example_dir

    templates_dir = templates_dir or default_templates_dir()
    example = example_dir()
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
@click.argument("files", metavar=_("FILE..."), nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--out", "out_dir", metavar=FOLDER, required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help=_("Output folder."))
@_pdfa_option
@_jobs_option
@click.option("--timeout", metavar=_("SECONDS"), type=FiniteFloatRange(1, 3600), default=60.0,
              show_default=True,
              help=_("Seconds allowed per document before LibreOffice is stopped."))
def convert(files: tuple[Path, ...], out_dir: Path, pdfa: str, jobs: int | None,
            timeout: float) -> int:
    from signflow.documents.convert import convert_documents, raise_for_failures, targets_in

    targets = targets_in(out_dir, files)
    with progress_bar(_("Converting to PDF")) as progress:
        report = convert_documents(targets, pdfa=None if pdfa == "none" else pdfa,
                                   workers=jobs, document_timeout=timeout, progress=progress)
    for done in report.converted:
        click.echo(_("{source} -> {target} ({pages} page(s))").format(
            source=done.source, target=done.target, pages=done.pages))
    raise_for_failures(report)
    return EXIT_OK


@cli.command(help=_("Create the signature fields of a converted PDF, one per member and role."))
@click.argument("pdfs", metavar=_("PDF..."), nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--roster", "roster_path", metavar=FILE, required=True,
              type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML)."))
def prepare(pdfs: tuple[Path, ...], roster_path: Path) -> int:
    from signflow.documents.fields import prepare_fields

    roster = load_roster(roster_path)
    for pdf in pdfs:
        created = prepare_fields(pdf, roster)
        if created:
            click.echo(_("{path}: {n} signature field(s) created").format(path=pdf,
                                                                          n=len(created)))
        else:
            click.echo(_("{path}: already prepared").format(path=pdf))
    return EXIT_OK








def tell_waiting(path: Path) -> None:
    click.echo(_("{path} is being written by another signflow process: waiting...").format(
        path=path), err=True)




@cli.group("roster", help=_("Work with the roster."))
def roster_group() -> None:
    pass


@roster_group.command("pin", help=_(
    "Pin a member's certificate in the roster: read it from a PEM/DER file, a PKCS#12 file, "
    "a token or a remote signing service, show it, and write its SHA-256 fingerprint and "
    "subject into the roster."))
@click.argument("roster_path", metavar=_("ROSTER"), type=click.Path(path_type=Path))
@click.option("--member", "member_id", metavar=MEMBER, required=True,
              help=_("Member id of the signer (a department's head: MEMBER/DEPARTMENT)."))
@click.option("--role", type=click.Choice(["head", "seal"]), default="head", show_default=True,
              help=_("head: the head's personal signature; seal: the organisation's."))
@click.option("--cert", "cert_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Certificate file (PEM or DER)."))
@key_source_options
@click.option("--yes", is_flag=True, help=_("Write without asking."))
def roster_pin(roster_path: Path, member_id: str, role: Role, cert_path: Path | None,
               yes: bool, **key_source: Any) -> int:
    import contextlib

    from signflow.errors import InputError
    from signflow.identity import cert_sha256, load_certificate, names_member, subject_text
    from signflow.roster import pin_certificate

    roster = load_roster(roster_path)
    member = roster.member(member_id)
    if member.is_department and role != "head":
        raise InputError(_("a department has no seal of its own: pin its head's certificate "
                           "(--role head)"))
    has_key = any(key_source[k] is not None for k in ("pkcs12_path", "pkcs11_lib", "csc_url"))
    if (cert_path is None) == (not has_key):
        raise InputError(_("choose one certificate source: --cert FILE, --pkcs12 FILE, "
                           "--pkcs11-lib LIB or --csc-url URL"))
    with contextlib.ExitStack() as stack:
        owner = KeyOwner(member, role, roster.cluster.organisation_attribute)
        cert = load_certificate(cert_path) if cert_path is not None else \
            open_key_source(stack, **key_source, signer=owner).cert
    sha256, subject = cert_sha256(cert), subject_text(cert)
    click.echo(_("Member: {member} ({role})").format(
        member=f"{member.department_name}, {member.unit}" if member.department_name
        else member.unit, role=_("head") if role == "head" else _("seal")))
    click.echo(_("Subject: {subject}").format(subject=subject))
    click.echo(_("Issuer: {issuer}").format(issuer=cert.issuer.human_friendly))
    click.echo(_("Valid: {start} to {end}").format(
        start=date_text(cert.not_valid_before), end=date_text(cert.not_valid_after)))
    click.echo(_("SHA-256: {sha256}").format(sha256=sha256))
    if not names_member(cert, member, role, roster.cluster.organisation_attribute):
        click.echo(_("Warning: the certificate does not name {name} of {unit}; pin it only "
                     "if you have checked it with its holder.").format(
            name=member.head.name if role == "head" else member.unit, unit=member.unit),
            err=True)
    if not yes:
        if not sys.stdin.isatty():
            raise InputError(_("confirm with --yes (there is no terminal to ask on)"))
        if not click.confirm(_("Write this certificate into {path}?").format(
                path=roster_path), err=True):
            click.echo(_("Nothing written."))
            return EXIT_OK
    pin_certificate(roster_path, member_id, role, sha256, subject)
    click.echo(_("{path}: certificate pinned for {member} ({role})").format(
        path=roster_path, member=member_id, role=_("head") if role == "head" else _("seal")))
    return EXIT_OK


@cli.command(help=_("Sign PDFs as one member's head or seal, with a PKCS#12 file, a "
                    "PKCS#11 token (one login for all documents) or a remote signing service "
                    "(CSC API)."))
@click.argument("pdfs", metavar=_("PDF..."), nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--roster", "roster_path", metavar=FILE, required=True,
              type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML)."))
@click.option("--member", "member_id", metavar=MEMBER, required=True,
              help=_("Member id of the signer (a department's head: MEMBER/DEPARTMENT)."))
@click.option("--role", type=click.Choice(["head", "seal"]), default="head", show_default=True,
              help=_("head: the head's personal signature; seal: the organisation's."))
@key_source_options
@click.option("--level", type=click.Choice(["B-B", "B-T", "B-LT", "B-LTA"]), default="B-B",
              show_default=True, help=_("PAdES baseline level."))
@click.option("--tsa", "tsa_url", metavar="URL",
              help=_("URL of the timestamp authority (RFC 3161)."))
@click.option("--trust", "trust", metavar=FILE, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Trust root (PEM) for the validation data of B-LT/B-LTA; may be "
                     "repeated."))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger (default: signflow-ledger.sqlite next to the documents)."))
def sign(pdfs: tuple[Path, ...], roster_path: Path, member_id: str, role: Role,
         level: PadesLevel, tsa_url: str | None, trust: tuple[Path, ...], ledger_path: Path | None,
         **key_source: Any) -> int:
    import contextlib

    from signflow.ledger import default_ledger_path
    from signflow.signing.policy import check_signing_image
    from signflow.signing.signer import SignSettings, sign_documents

    check_key_source(**key_source)
    roster = load_roster(roster_path)
    check_signing_image(roster.member(member_id), role)  # before any PIN is asked for
    settings = SignSettings(level=level, tsa_url=tsa_url, trust_roots=trust)
    settings.check()
    with contextlib.ExitStack() as stack:
        owner = KeyOwner(roster.member(member_id), role,
                         roster.cluster.organisation_attribute, documents=len(pdfs))
        credential = open_key_source(stack, **key_source, signer=owner)
        ledger = stack.enter_context(open_ledger(ledger_path or default_ledger_path(pdfs[0])))
        try:
            outcomes = sign_documents(list(pdfs), roster, member_id, role, credential,
                                      settings, ledger=ledger, on_wait=tell_waiting)
        except Exception:  # what was signed before the failure is covered too
            anchor_ledger(ledger, tsa_url, quiet=True)
            raise
        anchor_ledger(ledger, tsa_url)
    for outcome in outcomes:
        click.echo(_("{path}: signed by {signer} ({member}, {role})").format(
            path=outcome.path, signer=outcome.signer, member=outcome.member,
            role=_("head") if outcome.role == "head" else _("seal")))
    return EXIT_OK


@cli.command(help=_("Show who has signed, who is pending and what comes next."))
@click.argument("pdfs", metavar=_("[PDF|FOLDER]..."), nargs=-1,
                type=click.Path(path_type=Path))
@click.option("--roster", "roster_path", metavar=FILE, type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML)."))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger to compare the files with (default: the one next to "
                     "the documents, if there is one)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print JSON for scripts."))
@click.option("--wide", is_flag=True,
              help=_("Show every column (a column per member), however wide."))
def status(pdfs: tuple[Path, ...], roster_path: Path | None, ledger_path: Path | None,
           as_json: bool, wide: bool) -> int:
    import contextlib
    import json

    from signflow.errors import SignflowError
    from signflow.ledger import default_ledger_path
    from signflow.validation.status import DocumentStatus, document_status

    pdfs = tuple(documents_named(pdfs))
    roster = load_roster(roster_path) if roster_path else None
    results: list[DocumentStatus] = []
    failed = False
    with contextlib.ExitStack() as stack:
        ledgers: dict[Path, Any] = {}
        for pdf in pdfs:
            try:
                where = ledger_path or default_ledger_path(pdf)
                if where not in ledgers:
                    found = open_ledger(where, read_only=True, missing_ok=True)
                    ledgers[where] = stack.enter_context(found) if found else None
                results.append(document_status(pdf, roster, ledger=ledgers[where]))
            except SignflowError as exc:
                failed = True
                results.append(DocumentStatus(file=str(pdf), error=exc.message))
    if as_json:
        click.echo(json.dumps({"documents": [r.as_json() for r in results]},
                              ensure_ascii=False, indent=2))
    else:
        from signflow.output.tables import status_table

        click.echo(status_table(results, roster, wide=wide))
        for r in results:
            if r.ledger is not None and not r.ledger["agrees"]:
                click.echo(_("{path}: the file and the ledger {ledger} disagree: {problem}"
                             ).format(path=r.file, ledger=r.ledger["path"],
                                      problem=r.ledger["problem"]))
    from signflow.errors import EXIT_FAILED

    if failed:
        return EXIT_FAILED
    return EXIT_PROBLEMS if any(r.ledger and not r.ledger["agrees"] for r in results) \
        else EXIT_OK


@cli.command("log", help=_("Print the audit trail of the signing ledger; check it (--verify) "
                            "against its timestamps and the PDFs, or timestamp it (--anchor)."))
@click.argument("pdfs", metavar=_("[PDF]..."), nargs=-1, type=click.Path(path_type=Path))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger (default: signflow-ledger.sqlite in this folder)."))
@click.option("--verify", is_flag=True,
              help=_("Check the audit trail: its hash chain, its timestamps and the PDFs "
                     "(those named, else each where the ledger last saw it)."))
@click.option("--trust", metavar=FILE, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Trust root (PEM or DER) of the timestamp authority; may be repeated."))
@click.option("--anchor", is_flag=True,
              help=_("Have the audit trail's latest state timestamped now (needs --tsa)."))
@click.option("--tsa", "tsa_url", metavar="URL",
              help=_("URL of the timestamp authority (RFC 3161)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print JSON for scripts."))
def log_command(pdfs: tuple[Path, ...], ledger_path: Path | None, verify: bool,
                trust: tuple[Path, ...], anchor: bool, tsa_url: str | None,
                as_json: bool) -> int:
    import json
    from dataclasses import asdict

    from signflow.errors import InputError
    from signflow.ledger import LEDGER_NAME

    path = ledger_path or Path(LEDGER_NAME)
    if pdfs and not verify:
        raise InputError(_("PDFs are compared with the ledger by --verify"))
    if anchor:
        if not tsa_url:
            raise InputError(_("--anchor needs the timestamp authority: --tsa"))
        if not path.is_file():
            raise InputError(_("ledger not found: {path}").format(path=path))
        with open_ledger(path) as ledger:
            made = _anchor(ledger, tsa_url)
        click.echo(_("The audit trail was timestamped up to event {n} ({at}).").format(
            n=made.seq, at=time_text(made.at)) if made else _("The audit trail's latest state was "
                                                  "already timestamped."))
        if not verify:
            return EXIT_OK
    audit = None
    with open_ledger(path, read_only=True) as ledger:
        events = ledger.events()
        if verify:
            from signflow.identity import load_trust_roots
            from signflow.ledger_audit import audit_ledger

            audit = audit_ledger(ledger, load_trust_roots(trust),
                                 list(pdfs) if pdfs else None)
    problems = audit.problems if audit else []
    if as_json:
        payload: dict[str, Any] = {"events": [asdict(e) for e in events], "problems": problems}
        if audit is not None:
            payload.update(notes=audit.notes, anchors=audit.anchors,
                           documents_compared=audit.documents_compared)
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
    else:
        from signflow.output.tables import event_line

        for e in events:
            click.echo(event_line(e.seq, e.at, e.action, e.path, e.details))
        if audit is not None:
            for note in audit.notes:
                click.echo(_("note: {note}").format(note=note))
            for problem in problems:
                click.echo(_("PROBLEM: {problem}").format(problem=problem), err=True)
            if not problems:
                click.echo(_("The audit trail is intact ({n} events, {a} timestamp(s), {d} "
                             "document(s) compared with their files).").format(
                                 n=len(events), a=audit.anchors, d=audit.documents_compared))
    return EXIT_PROBLEMS if problems else EXIT_OK


@cli.command(help=_("Verify signed PDFs: every signature, the signers, the changes after "
                    "signing, and (with a roster) completeness."))
@click.argument("pdfs", metavar=_("[PDF|FOLDER]..."), nargs=-1,
                type=click.Path(path_type=Path))
@click.option("--trust", metavar=FILE, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Trust root (PEM or DER); may be repeated."))
@click.option("--roster", "roster_path", metavar=FILE, type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML), to check completeness and signers."))
@click.option("--at", "at_text", metavar=_("TIME"),
              help=_("Validate as of this time (ISO 8601), e.g. years after the certificates "
                     "expired."))
@click.option("--online", is_flag=True,
              help=_("Check revocation online: a status that cannot be established is a "
                     "problem (default: offline, with the embedded data)."))
@click.option("--json", "as_json", is_flag=True, help=_("Print JSON for scripts."))
@click.option("--report", "report_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Also write an HTML report to this file."))
@click.option("--wide", is_flag=True,
              help=_("Show every column (field names, each check, full times), however "
                     "wide."))
def verify(pdfs: tuple[Path, ...], trust: tuple[Path, ...], roster_path: Path | None,
           at_text: str | None, online: bool, as_json: bool, report_path: Path | None,
           wide: bool) -> int:
    import datetime as dt
    import json

    from signflow.errors import EXIT_FAILED, InputError
    from signflow.validation.verify import VerifyPolicy, verify_files

    at = None
    if at_text:
        try:
            at = dt.datetime.fromisoformat(at_text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(_("--at: not an ISO 8601 time: {value}").format(
                value=at_text)) from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.timezone(dt.timedelta(hours=7)))  # Vietnam time
    roster = load_roster(roster_path) if roster_path else None
    policy = VerifyPolicy(trust_roots=trust, roster=roster, at=at, online=online)
    verdicts = verify_files(documents_named(pdfs), policy)
    if as_json:
        payload = [v.as_json() for v in verdicts]
        click.echo(json.dumps(payload[0] if len(payload) == 1 else payload,
                              ensure_ascii=False, indent=2))
    else:
        from signflow.output.tables import verify_table

        click.echo(verify_table(verdicts, roster, wide=wide), nl=False)
    if report_path is not None:
        from signflow._internal.files import atomic_write_bytes
        from signflow.output.report import render_html

        html = render_html(verdicts, roster_name=roster.cluster.full_name if roster else None,
                           trust_roots=[str(t) for t in trust])
        atomic_write_bytes(report_path, html.encode("utf-8"))
        if not as_json:
            click.echo(_("Report: {path}").format(path=report_path))
    if any(not v.readable for v in verdicts):
        return EXIT_FAILED
    return EXIT_OK if all(v.ok for v in verdicts) else EXIT_PROBLEMS


@cli.group(help=_("Keys and certificates (demo PKI)."))
def keys() -> None:
    pass


@keys.command("demo", help=_("Create a demo PKI for a roster: CAs, a head and an organisation "
                             "certificate per member, a timestamp authority, demo images."))
@click.option("--roster", "roster_path", metavar=FILE, required=True,
              type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML)."))
@click.option("--out", "out_dir", metavar=FOLDER, required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help=_("Output folder (new or empty)."))
@click.option("--softhsm", "softhsm_members", metavar=MEMBER, multiple=True,
              help=_("Also load this member's keys into a SoftHSM2 token; may be repeated "
                     "(\"all\" for every member)."))
@click.option("--valid-days", metavar=_("DAYS"), type=click.IntRange(1, 7000), default=730,
              show_default=True,
              help=_("Validity of the members' certificates, in days."))
@click.option("--url", metavar="URL",
              help=_("Base URL of the local services (default: a free port on 127.0.0.1)."))
def keys_demo(roster_path: Path, out_dir: Path, softhsm_members: tuple[str, ...],
              valid_days: int, url: str | None) -> int:
    from signflow.demo.pki import create_demo_pki

    roster = load_roster(roster_path)
    members = roster.member_ids if "all" in softhsm_members else list(softhsm_members)
    pki = create_demo_pki(roster, out_dir, url=url, valid_days=valid_days,
                          softhsm_members=members)
    click.echo(_("Demo PKI written to {path}").format(path=pki.dir))
    click.echo(_("Trust root: {path}").format(path=pki.root_pem))
    click.echo(_("Roster with the demo certificates and images: {path}").format(
        path=pki.roster_path))
    click.echo(_("Timestamp authority (while `signflow keys serve` runs): {url}").format(
        url=pki.tsa_url))
    if pki.softhsm is not None:
        click.echo(_("SoftHSM2 token '{label}': set SOFTHSM2_CONF={conf}; PIN in {pin}").format(
            label=pki.softhsm.token_label, conf=pki.softhsm.conf, pin=pki.softhsm.pin_file))
    return EXIT_OK


@keys.command("list", help=_("List the tokens a PKCS#11 module reaches, the certificates "
                             "on them with their key ids, and whose each one is."))
@click.option("--pkcs11-lib", required=True, metavar=_("MODULE"),
              help=_("PKCS#11 module of the token (a .so file)."))
@click.option("--roster", "roster_path", type=click.Path(path_type=Path), metavar=_("FILE"),
              help=_("Roster of the cluster (TOML), to say whose each key is."))
def keys_list(pkcs11_lib: str, roster_path: Path | None) -> int:
    from signflow.identity import common_name, match_certificate
    from signflow.signing.tokens import inventory

    roster = load_roster(roster_path) if roster_path else None
    found = inventory(pkcs11_lib)
    if not found.slots:
        click.echo(_("No token is plugged in (module {module}).").format(module=pkcs11_lib))
        return EXIT_OK
    for slot in found.slots:
        click.echo(_("Slot {slot}: token «{token}», serial {serial}{pad}").format(
            slot=slot["slot"], token=slot["token"], serial=slot["serial"] or "-",
            pad=_(", with a PIN pad") if slot["pinpad"] else ""))
        certs = [c for c in found.certificates if c.slot == slot["slot"]]
        if not certs:
            click.echo("  " + _("(no certificate)"))
        for cert in certs:
            start, end = cert.valid
            owners = []
            if roster is not None:
                for member, role in roster.signers():
                    word = _("head") if role == "head" else _("seal")
                    match = match_certificate(cert.cert, member, role,
                                              roster.cluster.organisation_attribute)
                    if match.matches:
                        owners.append(f"{member.where} ({word})")
            whose = ", ".join(owners) if owners else (
                _("no member of the roster") if roster is not None else "")
            click.echo(f"  - {common_name(cert.cert)}")
            click.echo("    " + _("Subject: {subject}").format(subject=cert.subject))
            click.echo("    " + _("Valid: {start} to {end}").format(
                start=date_text(start), end=date_text(end)))
            click.echo("    " + _("Key id: {id}; label: {label}").format(
                id=cert.key_id.hex() if cert.key_id else "-", label=cert.label or "-"))
            if whose:
                click.echo("    " + _("Belongs to: {whose}").format(whose=whose))
    return EXIT_OK


@keys.command("serve", help=_("Serve the demo PKI's timestamp authority, OCSP and CRLs on "
                              "127.0.0.1 until interrupted."))
@click.argument("pki_dir", metavar=_("PKI_FOLDER"),
                type=click.Path(file_okay=False, path_type=Path))
def keys_serve(pki_dir: Path) -> int:
    import time

    from signflow.demo.pki import load_demo_pki
    from signflow.demo.services import serve_pki

    pki = load_demo_pki(pki_dir)
    with serve_pki(pki) as base:
        click.echo(_("Serving {url} (timestamps: {tsa}); Ctrl+C to stop.").format(
            url=base, tsa=pki.tsa_url))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return EXIT_OK


@cli.command(help=_("The signing ceremony: the heads sign one agreement in turn on this "
                    "computer, each with their own token, each seal right after its head; "
                    "then the agreement is archived and verified."))
@click.argument("pdf", metavar=_("PDF"), type=click.Path(dir_okay=False, path_type=Path))
@click.option("--roster", "roster_path", required=True, metavar=FILE,
              type=click.Path(path_type=Path), help=_("Roster of the cluster (TOML)."))
@click.option("--pkcs11-lib", "modules", multiple=True, required=True, metavar=_("MODULE"),
              help=_("PKCS#11 module of the tokens (a .so file); may be repeated."))
@click.option("--level", type=click.Choice(["B-B", "B-T", "B-LT", "B-LTA"]), default="B-B",
              show_default=True, help=_("PAdES level of each signature."))
@click.option("--tsa", "tsa_url", metavar="URL",
              help=_("URL of the timestamp authority (RFC 3161)."))
@click.option("--trust", multiple=True, metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Trust root (PEM or DER); may be repeated."))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger (default: signflow-ledger.sqlite next to the documents)."))
@click.option("--images", "images_dir", metavar=_("FOLDER"),
              type=click.Path(file_okay=False, path_type=Path),
              help=_("Where the signed pages are written as images, for a projector "
                     "(default: a folder beside the document)."))
@click.option("--report", "report_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("The verification report written at the end (HTML)."))
@click.option("--pinpad", is_flag=True, help=_("Enter the PIN on the token's own PIN pad."))
def ceremony(pdf: Path, roster_path: Path, modules: tuple[str, ...], level: PadesLevel,
             tsa_url: str | None, trust: tuple[Path, ...], ledger_path: Path | None,
             images_dir: Path | None, report_path: Path | None, pinpad: bool) -> int:
    from signflow.ceremony import Ceremony, FoundKey, Turn, run_ceremony
    from signflow.ledger import default_ledger_path
    from signflow.signing.credentials import PINPAD
    from signflow.signing.signer import SignSettings

    roster = load_roster(roster_path)
    settings = SignSettings(level=level, tsa_url=tsa_url, trust_roots=trust)
    settings.check()
    images_dir = images_dir or pdf.with_name(f"{pdf.stem}-nghi-thuc-ky")
    report_path = report_path or pdf.with_name(f"{pdf.stem}-bien-ban-xac-minh.html")

    def say(text: str) -> None:
        click.echo(text)

    def ask_pin(key: FoundKey) -> str | object:
        if pinpad:
            click.echo(_("Type the PIN on the token's PIN pad."))
            return PINPAD
        prompt = _("PIN of the token «{token}» ({name}, {n} document(s))").format(
            token=key.token_label, name=key.turn.who, n=1)
        try:
            return click.prompt(prompt, hide_input=True, err=True)
        except click.Abort:
            raise KeyboardInterrupt() from None

    def interrupted(turn: Turn, exc: BaseException) -> str:
        from signflow.cli import Terminated

        if isinstance(exc, Terminated):
            raise exc
        click.echo()
        try:
            choice = click.prompt(_("{who}: s = skip for now, x = stop the ceremony, Enter = "
                                    "keep waiting").format(who=turn.who),
                                  default="", show_default=False, err=True)
        except click.Abort:
            return "stop"
        return {"s": "skip", "x": "stop"}.get(choice.strip().lower(), "")

    with open_ledger(ledger_path or default_ledger_path(pdf)) as ledger:
        session = Ceremony(pdf, roster, modules, settings, ledger=ledger,
                           images_dir=images_dir)
        click.echo(_("Signing ceremony: {path} ({n} signature(s) to make; Ctrl+C to skip "
                     "someone or stop)").format(path=pdf, n=len(session.pending())))
        run_ceremony(session, say, ask_pin, interrupted)
        left = session.pending()
        outcome = session.finish(tsa_url if not left else None, trust, report_path)
        anchor_ledger(ledger, tsa_url, quiet=True)
    click.echo(_("Signed today: {n}; still missing: {m}").format(
        n=len(outcome.signed), m=len(left)))
    if outcome.archived:
        click.echo(_("Archived (PAdES B-LTA)."))
    if outcome.report is not None:
        click.echo(_("Report: {path}").format(path=outcome.report))
    return EXIT_OK if outcome.complete else EXIT_PROBLEMS


@cli.command(help=_("Add fresh validation data and a document timestamp (PAdES B-LTA), so "
                    "that the signatures stay verifiable after the certificates expire."))
@click.argument("pdfs", metavar=_("[PDF|FOLDER]..."), nargs=-1,
                type=click.Path(path_type=Path))
@click.option("--tsa", "tsa_url", metavar="URL", required=True,
              help=_("URL of the timestamp authority (RFC 3161)."))
@click.option("--trust", metavar=FILE, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Trust root (PEM or DER); may be repeated."))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger (default: signflow-ledger.sqlite next to the documents)."))
def archive(pdfs: tuple[Path, ...], tsa_url: str, trust: tuple[Path, ...],
            ledger_path: Path | None) -> int:
    from signflow._internal.files import unique_paths
    from signflow.identity import load_trust_roots
    from signflow.ledger import default_ledger_path
    from signflow.signing.archive import archive_document

    roots = load_trust_roots(trust)
    named = unique_paths(documents_named(pdfs))
    whole_folders = not pdfs or any(p.is_dir() for p in pdfs)
    if whole_folders:  # a year or a folder: the documents that carry signatures
        from signflow.validation.status import carries_signatures

        skipped = [p for p in named if not carries_signatures(p)]
        named = [p for p in named if p not in skipped]
        if skipped:
            click.echo(_("{n} document(s) without signatures left as they are").format(
                n=len(skipped)))
    if not named:
        from signflow.errors import InputError

        raise InputError(_("no signed document to archive"))
    with open_ledger(ledger_path or default_ledger_path(named[0])) as ledger:
        try:
            with progress_bar(_("Archiving")) as progress:
                for i, pdf in enumerate(named):
                    outcome = archive_document(pdf, tsa_url, roots, ledger=ledger,
                                               on_wait=tell_waiting)
                    if progress:
                        progress(i + 1, len(named))
                    click.echo(_("{path}: validation data and a document timestamp added "
                                 "({n} signature(s), now PAdES B-LTA)").format(
                        path=outcome.path, n=outcome.signatures))
                    if outcome.untimestamped:
                        click.echo(_("  {n} of them had no timestamp of their own (B-B): "
                                     "they now count as signed no later than this document "
                                     "timestamp").format(n=outcome.untimestamped))
        except Exception:  # what was archived before the failure is covered too
            anchor_ledger(ledger, tsa_url, quiet=True)
            raise
        anchor_ledger(ledger, tsa_url)
    return EXIT_OK


@cli.command(help=_("Write what one office needs to sign its part of a document, to send "
                    "by any channel: the PDF, the roster without the other members' images, "
                    "the trust roots and an instruction sheet in Vietnamese."))
@click.argument("pdf", metavar=_("PDF"), type=click.Path(path_type=Path))
@click.option("--member", "member_id", metavar=MEMBER, required=True,
              help=_("Member id of the office that signs."))
@click.option("--out", "out_dir", metavar=FOLDER, required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help=_("Folder to write the package into."))
@click.option("--roster", "roster_path", metavar=FILE, required=True,
              type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML)."))
@click.option("--trust", metavar=FILE, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Trust root (PEM or DER) to send along; may be repeated."))
@click.option("--tsa", "tsa_url", metavar="URL",
              help=_("URL of the timestamp authority the office signs with (B-T)."))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger: the PDF must be the newest file it knows (default: "
                     "signflow-ledger.sqlite next to the documents, if there is one)."))
@click.option("--contact", metavar=_("TEXT"),
              help=_("How the office reaches the secretariat (e-mail, telephone), for the "
                     "instruction sheet."))
@click.option("--zip", "make_zip", is_flag=True,
              help=_("Also write the package as one .zip file beside the folder."))
def send(pdf: Path, member_id: str, out_dir: Path, roster_path: Path, trust: tuple[Path, ...],
         tsa_url: str | None, ledger_path: Path | None, contact: str | None,
         make_zip: bool) -> int:
    import contextlib

    from signflow.ledger import default_ledger_path
    from signflow.signing.handoff import send_package

    with contextlib.ExitStack() as stack:
        ledger = open_ledger(ledger_path or default_ledger_path(pdf), missing_ok=True)
        if ledger is None and ledger_path is not None:
            from signflow.errors import InputError

            raise InputError(_("ledger not found: {path}").format(path=ledger_path))
        if ledger is not None:
            stack.enter_context(ledger)
        package = send_package(pdf, roster_path, member_id, out_dir, trust_roots=trust,
                               tsa_url=tsa_url, ledger=ledger, make_zip=make_zip,
                               contact=contact)
    click.echo(_("Package for {member} ({roles}) written to {path}:").format(
        member=member_id, path=package.folder,
        roles=", ".join(_("head") if r == "head" else _("seal") for r in package.roles)))
    for written in [package.pdf, package.roster, *package.images, *package.trust,
                    package.instructions]:
        click.echo(f"  {written.relative_to(package.folder).as_posix()}")
    if package.zip is not None:
        click.echo(_("Zip file: {path}").format(path=package.zip))
    return EXIT_OK


@cli.command(help=_("Take back signed copies of documents, received by any channel: a copy "
                    "is accepted only when it continues the newest file the ledger knows "
                    "with what the workflow allows (roster members' signatures in their own "
                    "fields, validation data, timestamps); stale and altered copies are "
                    "refused and nothing is overwritten."))
@click.argument("files", metavar=_("FILE..."), nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("--roster", "roster_path", metavar=FILE, required=True,
              type=click.Path(path_type=Path),
              help=_("Roster of the cluster (TOML)."))
@click.option("--trust", metavar=FILE, multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Trust root (PEM or DER) the signers' certificates must chain to; may "
                     "be repeated."))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("The secretariat's signing ledger (default: the workspace's)."))
@click.option("--tsa", "tsa_url", metavar="URL",
              help=_("URL of the timestamp authority, to timestamp the ledger after "
                     "receiving."))
@click.option("--json", "as_json", is_flag=True, help=_("Print JSON for scripts."))
def receive(files: tuple[Path, ...], roster_path: Path, trust: tuple[Path, ...],
            ledger_path: Path | None, tsa_url: str | None, as_json: bool) -> int:
    import json

    from signflow.errors import EXIT_FAILED, InputError
    from signflow.identity import load_trust_roots
    from signflow.signing.handoff import describe_outcome, receive_files

    roster = load_roster(roster_path)
    if not trust:
        raise InputError(_("receiving needs the trust roots (--trust) to check who signed"))
    roots = load_trust_roots(trust)
    if ledger_path is None:
        raise InputError(_("name the secretariat's ledger: --ledger FILE (or run the command "
                           "inside the workspace)"))
    ledger = open_ledger(ledger_path, missing_ok=True)
    if ledger is None:
        raise InputError(_("ledger not found: {path}").format(path=ledger_path))
    with ledger:
        outcomes = receive_files(list(files), ledger, roster, roots, on_wait=tell_waiting)
        if any(o.result == "accepted" for o in outcomes):
            anchor_ledger(ledger, tsa_url)
    if as_json:
        click.echo(json.dumps({"files": [o.as_json() for o in outcomes]},
                              ensure_ascii=False, indent=2))
    else:
        for outcome in outcomes:
            for line in describe_outcome(outcome, roster):
                click.echo(line, err=outcome.result == "error")
    if any(o.result == "error" for o in outcomes):
        return EXIT_FAILED
    if any(o.result not in ("accepted", "nothing-new") for o in outcomes):
        return EXIT_PROBLEMS
    return EXIT_OK


@cli.command(help=_("Run the whole flow on the shipped 2019 example: generate, convert, sign "
                    "(PKCS#12 and SoftHSM2), timestamp, archive and verify."))
@click.option("--out", "out_dir", metavar=FOLDER, default=Path("out/demo"), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help=_("Output folder."))
def demo(out_dir: Path) -> int:
    from signflow.demo.run import run_demo
    from signflow.errors import EXIT_FAILED
    from signflow.output.tables import status_table

    counter = [0]

    def step(text: str) -> None:
        counter[0] += 1
        click.echo(f"[{counter[0]}/6] {text}")

    result = run_demo(out_dir, step)
    click.echo()
    click.echo(status_table(result.statuses, result.roster))
    ok = sum(1 for v in result.verdicts if v.ok)
    agreement = result.verdicts[0]
    people = [s for s in agreement.signatures if not s.is_timestamp]
    click.echo()
    click.echo(_("Agreement: {n} signatures, {verdict}").format(
        n=len(people), verdict=_("verified and complete") if agreement.ok
        else _("PROBLEMS FOUND")))
    click.echo(_("Documents verified: {ok}/{n}").format(ok=ok, n=len(result.verdicts)))
    audit = result.ledger_audit
    click.echo(_("Ledger: {verdict} ({a} timestamp(s), {d} document(s) compared with their "
                 "files)").format(verdict=_("intact") if not audit.problems else
                                  "; ".join(audit.problems), a=audit.anchors,
                                  d=audit.documents_compared))
    click.echo(_("Files: {path}").format(path=result.out))
    click.echo(_("Report: {path}").format(path=result.report))
    click.echo(_("Done in {s:.0f} s.").format(s=result.seconds))
    return EXIT_OK if ok == len(result.verdicts) and not audit.problems else EXIT_FAILED


@cli.command(help=_("Create a workspace for real use: settings, a roster and the year's data "
                    "to edit, and the templates."))
@click.argument("folder", metavar=FOLDER, type=click.Path(file_okay=False, path_type=Path))
@click.option("--year", metavar=_("YEAR"), type=click.IntRange(2000, 2100),
              help=_("Year of the documents (default: the roster's year, else this year)."))
@click.option("--roster", "roster_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("The cluster's roster to start from (default: a skeleton to edit)."))
def init(folder: Path, year: int | None, roster_path: Path | None) -> int:
    from signflow.cli.workspace import init_workspace

    written = init_workspace(folder, year=year, roster=roster_path)
    click.echo(_("Workspace created in {path}:").format(path=folder))
    for path in written:
        click.echo(f"  {path}")
    click.echo(_("Next: edit roster.toml and data.toml, then run `signflow generate` in "
                 "that folder."))
    return EXIT_OK


@cli.command(help=_("The local signing agent: pages on this computer only (http://127.0.0.1) "
                    "to open a document, see who signs where and sign it with a token; and a "
                    "local API for a web portal's signing button (docs/agent.md)."))
@click.option("--config", "agent_config", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Settings of the agent (TOML, an [agent] table; docs/agent.md)."))
@click.option("--port", metavar=_("PORT"), type=click.IntRange(1, 65535),
              help=_("Port on 127.0.0.1 (default: 8787)."))
@_service_options
@click.option("--level", type=click.Choice(["B-B", "B-T", "B-LT", "B-LTA"]),
              help=_("PAdES level of each signature (default: B-T with a timestamp authority, "
                     "else B-B)."))
@click.option("--pkcs11-lib", "modules", multiple=True, metavar=_("MODULE"),
              help=_("PKCS#11 module of the tokens (a .so or .dll file); may be repeated."))
@click.option("--allow-origin", "origins", multiple=True, metavar=_("ORIGIN"),
              help=_("A web portal that may use the local API (scheme://host:port); may be "
                     "repeated."))
@click.option("--pairing-secret-file", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("File holding the pairing secret the portals send (made with a new "
                     "secret if missing; default: in the work folder)."))
@click.option("--work", "work_dir", metavar=FOLDER,
              type=click.Path(file_okay=False, path_type=Path),
              help=_("Folder where the opened and signed documents are kept (default: "
                     "signflow-agent)."))
@click.option("--ledger", "ledger_path", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Signing ledger (default: signflow-ledger.sqlite in the work folder)."))
@click.option("--open", "open_browser", is_flag=True,
              help=_("Open the agent's page in the web browser."))
def agent(agent_config: Path | None, port: int | None, roster_path: Path | None,
          trust: tuple[Path, ...], tsa_url: str | None, level: str | None,
          modules: tuple[str, ...], origins: tuple[str, ...],
          pairing_secret_file: Path | None, work_dir: Path | None, ledger_path: Path | None,
          open_browser: bool) -> int:
    from click.core import ParameterSource

    from signflow.agent import require_agent_extra

    require_agent_extra()
    from signflow.agent.config import load_agent_config, origin_text
    from signflow.agent.server import AgentServer

    ctx = click.get_current_context()
    values = {"roster": roster_path, "trust": trust, "tsa": tsa_url, "level": level,
              "ledger": ledger_path}
    names = {"roster": "roster_path", "trust": "trust", "tsa": "tsa_url", "level": "level",
             "ledger": "ledger_path"}
    # the workspace's signflow.toml fills in what neither --config nor a flag gives
    workspace = {k: v for k, v in values.items()
                 if ctx.get_parameter_source(names[k]) == ParameterSource.DEFAULT_MAP}
    flags = {k: v for k, v in values.items() if k not in workspace}
    config = load_agent_config(agent_config, defaults=workspace, **flags, port=port,
                               pkcs11=modules, allowed_origins=origins,
                               pairing_secret_file=pairing_secret_file, work=work_dir)
    server = AgentServer(config)
    click.echo(_("Signing agent: {url} (this computer only; Ctrl+C to stop)").format(
        url=server.url))
    click.echo(_("Pairing secret for the portals: in {path}").format(path=config.secret_path))
    click.echo(_("Portals allowed to use the local API: {origins}").format(
        origins=", ".join(origin_text(o) for o in config.allowed_origins) or _("none")))
    for module in config.pkcs11:
        if not Path(module).is_file():
            click.echo(_("warning: PKCS#11 module not found: {path}").format(path=module),
                       err=True)
    click.echo(_("Documents and the ledger: {path}").format(path=config.work))
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    import contextlib

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C: the way to stop the agent
        server.run()
    click.echo(_("The signing agent has stopped."))
    return EXIT_OK


@cli.command(help=_("The signing portal: web pages for the cluster's secretariat, the member "
                    "offices (personal links) and archivists (docs/portal.md). With no "
                    "settings it runs the 2019 demo round."))
@click.option("--config", "portal_config", metavar=FILE,
              type=click.Path(dir_okay=False, path_type=Path),
              help=_("Settings of the portal (TOML, a [portal] table; docs/portal.md)."))
@click.option("--host", metavar=_("ADDRESS"),
              help=_("Address to listen on (default: 127.0.0.1; behind a reverse proxy)."))
@click.option("--port", metavar=_("PORT"), type=click.IntRange(0, 65535),
              help=_("Port (default: 8800)."))
@click.option("--data-dir", metavar=FOLDER, type=click.Path(file_okay=False, path_type=Path),
              help=_("Folder for the documents, ledgers and secrets (default: "
                     "signflow-portal)."))
@click.option("--database-url", metavar="URL", envvar="SIGNFLOW_DATABASE_URL",
              help=_("Database (default: SQLite in the data folder; PostgreSQL: "
                     "postgresql+psycopg://...); also $SIGNFLOW_DATABASE_URL."))
@click.option("--public-url", metavar="URL",
              help=_("The address people open (in links and e-mails), e.g. behind a proxy."))
@_service_options
def serve(portal_config: Path | None, host: str | None, port: int | None,
          data_dir: Path | None, database_url: str | None, public_url: str | None,
          roster_path: Path | None, trust: tuple[Path, ...], tsa_url: str | None) -> int:
    import contextlib

    from signflow.portal import require_portal_extra

    require_portal_extra()
    from signflow.portal.config import load_portal_config
    from signflow.portal.server import PortalServer

    config = load_portal_config(portal_config, roster=roster_path, trust=trust, tsa=tsa_url,
                                data_dir=data_dir, database_url=database_url, host=host,
                                port=port, public_url=public_url)
    with contextlib.ExitStack() as stack:
        demo = config.roster is None
        if demo:  # no settings: the 2019 demo round
            from signflow.portal.demo import demo_settings, ensure_demo_round

            click.echo(_("No roster given: the portal runs the 2019 demo round."))
            config = stack.enter_context(demo_settings(
                config, lambda s: click.echo(f"- {s}")))
        server = PortalServer(config)
        if demo:
            ensure_demo_round(server.portal)
        click.echo(_("Signing portal: {url} (Ctrl+C to stop)").format(url=server.url))
        click.echo(_("The secretariat's first password: in {path}").format(
            path=server.portal.password_file))
        click.echo(_("Database: {kind}; documents and ledgers: {path}").format(
            kind=server.portal.engine.dialect.name, path=config.data_dir))
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C: the way to stop the portal
            server.run()
    click.echo(_("The signing portal has stopped."))
    return EXIT_OK
