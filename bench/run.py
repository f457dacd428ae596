"""signflow benchmarks, each side by side with the usual way of doing the same job.

    .venv/bin/python bench/run.py [render] [convert] ...     (all when none named)

Not part of the test suite's pass/fail: figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLE = ROOT / "templates" / "examples" / "cum-thi-dua-so-2-2019"
ROSTER = EXAMPLE / "roster.toml"
DATA = EXAMPLE / "data.toml"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}"


def timed(fn: Callable[[], object], repeat: int = 1) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def table(title: str, rows: list[tuple[str, str, str]], headers: tuple[str, str, str]) -> None:
    print(f"\n## {title}\n")
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(3)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")


# --- render -----------------------------------------------------------------------------


def bench_render() -> None:
    """One template rendered by signflow (strict, escaped, checked, atomic) against plain
    docxtpl with its defaults (what a script would do)."""
    from docxtpl import DocxTemplate

    from signflow.context import document_context
    from signflow.data import load_data
    from signflow.generate import default_templates_dir
    from signflow.render import render_file
    from signflow.roster import load_roster

    roster = load_roster(ROSTER)
    data = load_data([DATA])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, member in (("giao-uoc-thi-dua", None), ("ke-hoach-phat-dong", "ha-nam"),
                             ("dang-ky-thi-dua", "ha-nam"), ("giao-uoc-noi-bo", "ha-nam")):
            template = default_templates_dir() / f"{kind}.docx"
            ctx = document_context(roster, data, kind, member)
            out = Path(tmp) / f"{kind}.docx"

            def plain(template=template, ctx=ctx, out=out) -> None:
                tpl = DocxTemplate(str(template))
                tpl.render(ctx)
                tpl.save(str(out))

            def ours(template=template, ctx=ctx, out=out) -> None:
                render_file(template, ctx, out)

            ours()
            plain()  # warm both
            t_ours = statistics.median(timed(ours, 15))
            t_plain = statistics.median(timed(plain, 15))
            rows.append((kind, f"{t_ours * 1000:.0f} ms", f"{t_plain * 1000:.0f} ms "
                         f"(signflow/plain = {t_ours / t_plain:.2f})"))
    table("Render one template (median of 15)", rows,
          ("template", "signflow", "plain docxtpl"))


# --- convert ----------------------------------------------------------------------------


def _pack(tmp: Path) -> list[Path]:
    from signflow.data import load_data
    from signflow.generate import generate_pack
    from signflow.roster import load_roster

    generate_pack(load_roster(ROSTER), load_data([DATA]), tmp)
    return sorted((tmp / "2019").rglob("*.docx"))


def bench_convert() -> None:
    """The 28-document pack: signflow (batched workers, private profiles) against one
    `soffice --convert-to pdf` process per file, in the same run."""
    from signflow.convert import ConversionJob, convert_documents

    soffice = shutil.which("soffice")
    if not soffice:
        sys.exit("LibreOffice (soffice) is not installed: run `make bench`")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        docs = _pack(tmp / "pack")
        n = len(docs)

        def ours() -> None:
            jobs = [ConversionJob(d, tmp / "ours" / f"{d.stem}.pdf") for d in docs]
            report = convert_documents(jobs, pdfa="2b")
            assert not report.failed, report.failed

        profile = (tmp / "naive-profile").as_uri()

        def naive() -> None:
            for d in docs:
                subprocess.run(
                    [soffice, "--headless", f"-env:UserInstallation={profile}",
                     "--convert-to",
                     'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}',
                     "--outdir", str(tmp / "naive"), str(d)],
                    check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        t_ours = timed(ours)[0]
        t_naive = timed(naive)[0]
        assert len(list((tmp / "naive").glob("*.pdf"))) == n
    rows = [
        ("signflow convert (batched, 2 workers)", f"{t_ours:.1f} s", f"{n / t_ours:.2f}"),
        ("one soffice process per file", f"{t_naive:.1f} s", f"{n / t_naive:.2f}"),
    ]
    table(f"Convert the 2019 pack to PDF/A-2b ({n} documents)", rows,
          ("how", "time", "documents/s"))
    print(f"\nsignflow is {t_naive / t_ours:.1f}x faster.")


BENCHES = {"render": bench_render, "convert": bench_convert}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", choices=[*BENCHES, []], help="benchmarks to run")
    args = parser.parse_args()
    print(f"# signflow benchmarks\n\nMachine: {machine()}")
    for name in args.names or BENCHES:
        BENCHES[name]()


if __name__ == "__main__":
    main()
