"""convert: the 28 documents of the 2019 pack to PDF/A-2b: signflow's batched workers
(``signflow.convert_documents``, private LibreOffice profiles) against one
`soffice --convert-to pdf` process per file with the same PDF/A-2 filter options, in the
same run. Target: at least 5x faster.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import (
    DATA,
    ROSTER,
    BenchFailed,
    Result,
    Target,
    print_targets,
    run_process,
    soffice,
    table,
    temporary_folder,
    timed,
)

PDFA2 = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'


def pack_docx(out: Path) -> list[Path]:
    """The 2019 pack as .docx files (signflow.generate_pack)."""
    import signflow

    signflow.generate_pack(signflow.load_roster(ROSTER), signflow.load_data([DATA]), out)
    return sorted((out / "2019").rglob("*.docx"))


def soffice_convert(binary: str, profile: Path, outdir: Path, doc: Path) -> None:
    """One `soffice --convert-to pdf` process (PDF/A-2)."""
    run_process([binary, "--headless", f"-env:UserInstallation={profile.as_uri()}",
                 "--convert-to", PDFA2, "--outdir", str(outdir), str(doc)])


def run() -> list[Result]:
    import signflow

    binary = soffice()
    with temporary_folder() as tmp:
        docs = pack_docx(tmp / "pack")
        n = len(docs)

        def ours() -> None:
            jobs = [signflow.ConversionJob(d, tmp / "ours" / f"{d.stem}.pdf") for d in docs]
            report = signflow.convert_documents(jobs, pdfa="2b")
            if report.failed:
                raise BenchFailed(f"signflow convert failed: {report.failed}")

        def naive() -> None:
            for d in docs:
                soffice_convert(binary, tmp / "naive-profile", tmp / "naive", d)

        t_ours = timed(ours)[0]
        t_naive = timed(naive)[0]
        if len(list((tmp / "naive").glob("*.pdf"))) != n:
            raise BenchFailed("soffice did not write every PDF")
    rows = [
        ("signflow convert (batched, 2 workers)", f"{t_ours:.1f} s", f"{n / t_ours:.2f}"),
        ("one soffice process per file", f"{t_naive:.1f} s", f"{n / t_naive:.2f}"),
    ]
    table(f"Convert the 2019 pack to PDF/A-2b ({n} documents)", rows,
          ("how", "time", "documents/s"))
    print(f"\nsignflow is {t_naive / t_ours:.1f}x faster.")
    results = [
        Result("convert.signflow", f"signflow converts {n} documents", t_ours, "s"),
        Result("convert.soffice", f"{n} soffice processes", t_naive, "s"),
        Result("convert.speedup", "signflow's speed-up over one soffice per file",
               t_naive / t_ours, "x", Target(">=", 5, "bdce066")),
    ]
    print_targets(results)
    return results
