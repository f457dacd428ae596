"""e2e (issue 6): the whole 2019 pack, 28 documents and 107 signatures at B-T (the
internal pledges carry their 35 department heads' signatures since issue 17), the
agreement archived (validation data and a document timestamp), everything verified:
`signflow demo` in a subprocess (stage times from its progress lines) against the same
work with the usual tools: one `soffice` per document, one `pyhanko sign addsig` per
signature, `pyhanko sign ltvfix` per agreement signature, one `pyhanko sign validate` per
document. Target: signflow at least 5x faster overall.

The usual side needs what no usual tool does, from signflow: the demo PKI and its
loopback TSA (signflow.demo.pki and signflow.demo.services, the [demo] extra, not in the
public API), the .docx files (``signflow.generate_pack``) and the signature fields
(``signflow.prepare_fields``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from bench.bench_convert import soffice_convert
from bench.common import (
    DATA,
    BenchFailed,
    Result,
    Target,
    TreeMemory,
    addsig,
    demo_pki,
    field_name,
    mib,
    print_targets,
    pyhanko,
    pyhanko_validate,
    run_process,
    signflow_cli,
    soffice,
    table,
    temporary_folder,
)

STAGES = (
    "demo PKI (CAs, 53 certificates, TSA, images)",
    "render + convert to PDF/A-2b (28) + signature fields",
    "sign the agreement: 18 signatures, B-T",
    "archive the agreement (DSS + document timestamp)",
    "sign the member documents: 89 signatures (35 of department heads), B-T",
    "verify the 28 documents",
)
HOW = (
    "create_demo_pki (same code both sides)",
    "generate .docx (same code) + 28 x `soffice --convert-to pdf` (PDF/A-2) + "
    "signflow prepare per PDF",
    "18 x `pyhanko sign addsig --use-pades --timestamp-url`",
    "18 x `pyhanko sign ltvfix` (the last with --timestamp-url)",
    "89 x `pyhanko sign addsig --use-pades --timestamp-url`",
    "28 x `pyhanko sign validate --trust root --trust-replace --no-revocation-check`",
)


def signflow_demo(out: Path) -> tuple[list[float], float, int, int]:
    """`signflow demo` in a subprocess: stage times from its progress lines, total, peak
    RSS of its largest process and of its whole tree (sampled)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    marks: list[float] = []
    with TreeMemory() as tree:
        start = time.perf_counter()
        proc = subprocess.Popen([signflow_cli(), "demo", "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        assert proc.stdout is not None
        tail: list[str] = []
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            now = time.perf_counter() - start
            if re.match(r"^\[\d+/\d+\] ", line):
                marks.append(now)
                print(f"    {now:6.1f} s  {line}", flush=True)
            elif line:
                tail.append(line)
        proc.wait()
        total = time.perf_counter() - start
    print(f"    {total:6.1f} s  exit {proc.returncode}")
    if proc.returncode != 0 or len(marks) != len(STAGES):
        raise BenchFailed("signflow demo failed:\n" + "\n".join(tail[-20:]))
    bounds = [0.0, *marks[1:], total]
    return ([b - a for a, b in zip(bounds, bounds[1:], strict=False)], total,
            tree.largest_kib, tree.peak_kib)


def usual_pack(tmp: Path) -> tuple[list[float], float, int, int, int]:
    """The same work with the usual tools: soffice per document, pyhanko per signature."""
    import signflow
    from signflow.demo.services import serve_pki

    binary = soffice()
    tool = pyhanko()
    stages: list[float] = []
    failures = 0
    with TreeMemory() as tree:
        start = time.perf_counter()
        # the same code as the demo: there is no usual way
        demo = demo_pki(tmp / "pki", open_credentials=False)
        pki, roster = demo.pki, demo.roster
        stages.append(time.perf_counter() - start)

        start = time.perf_counter()
        signflow.generate_pack(roster, signflow.load_data([DATA]), tmp / "pack")  # same code
        year = tmp / "pack" / "2019"
        docs = sorted(year.rglob("*.docx"))
        for d in docs:
            soffice_convert(binary, tmp / "soffice-profile", d.parent, d)
        pdfs = [d.with_suffix(".pdf") for d in docs]
        for pdf in pdfs:  # no usual tool places fields from anchors: signflow's, once each
            signflow.prepare_fields(pdf, roster)
        stages.append(time.perf_counter() - start)

        agreement = year / "cluster" / "giao-uoc-thi-dua-2019.pdf"
        tmp_out = tmp / "signed.pdf"
        with serve_pki(pki, separate_process=True):
            start = time.perf_counter()
            for m in roster.members:
                for role in ("head", "seal"):
                    addsig(pki, m.id, role, agreement, tmp_out, pki.tsa_url)
                    os.replace(tmp_out, agreement)
            stages.append(time.perf_counter() - start)

            start = time.perf_counter()
            fields = [field_name(m.id, role) for m in roster.members for role in ("head", "seal")]
            for i, f in enumerate(fields):
                cmd = [tool, "sign", "ltvfix", "--field", f, "--trust", str(pki.root_pem),
                       "--trust-replace"]
                if i == len(fields) - 1:
                    cmd += ["--timestamp-url", pki.tsa_url]
                run_process([*cmd, str(agreement)])
            stages.append(time.perf_counter() - start)

            start = time.perf_counter()
            for m in roster.members:
                for pdf in sorted((year / m.id).glob("*.pdf")):
                    if pdf.name.startswith("giao-uoc-noi-bo-"):  # its departments first
                        for department in m.departments:
                            addsig(pki, f"{m.id}/{department.id}", "head", pdf, tmp_out,
                                   pki.tsa_url)
                            os.replace(tmp_out, pdf)
                    for role in ("head", "seal"):
                        addsig(pki, m.id, role, pdf, tmp_out, pki.tsa_url)
                        os.replace(tmp_out, pdf)
            stages.append(time.perf_counter() - start)

        start = time.perf_counter()
        for pdf in pdfs:
            done = run_process(pyhanko_validate(pki.root_pem, pdf), check=False)
            if done.code != 0:
                failures += 1
        stages.append(time.perf_counter() - start)
    return stages, sum(stages), tree.largest_kib, tree.peak_kib, failures


def run() -> list[Result]:
    signflow_cli()
    soffice()
    pyhanko()
    with temporary_folder() as tmp:
        print("\n## End to end: the 2019 pack\n\n`signflow demo` progress as it ran:\n")
        ours, t_ours, rss_ours, tree_ours = signflow_demo(tmp / "signflow")
        softhsm = shutil.which("softhsm2-util") is not None
        theirs, t_theirs, rss_theirs, tree_theirs, failures = usual_pack(tmp / "usual")
    rows = [(stage, f"{a:.1f} s", f"{b:.1f} s", f"{b / a:.1f}x", how)
            for stage, a, b, how in zip(STAGES, ours, theirs, HOW, strict=True)]
    rows.append(("**total**", f"**{t_ours:.1f} s**", f"**{t_theirs:.1f} s**",
                 f"**{t_theirs / t_ours:.1f}x**", ""))
    table("End to end: the 2019 pack, 28 documents, 107 signatures", rows,
          ("stage", "signflow demo", "usual tools", "usual / signflow", "usual way"))
    mem = [
        ("largest single process (peak RSS, sampled every 0.1 s)", mib(rss_ours),
         mib(rss_theirs)),
        ("all processes at once (peak, sampled every 0.1 s)", mib(tree_ours),
         mib(tree_theirs)),
    ]
    table("End to end: peak memory", mem, ("measure", "signflow demo", "usual tools"))
    tokens = ("3 members with a SoftHSM2 token (PKCS#11), the others with PKCS#12"
              if softhsm else "everyone with PKCS#12")
    notes = [
        "Both sides sign at PAdES B-T against the same kind of demo TSA, served by "
        "`serve_pki(separate_process=True)`, and archive the agreement once.",
        "The usual tools have no anchor-based field creation, so signflow's `prepare` "
        "creates the fields once per PDF on their side too (counted in their time).",
        "`pyhanko sign validate` checks every signature of a file in one process, so it runs "
        "once per document (28), not once per signature (which would validate the "
        "agreement 18 times over); it skips revocation checks, which makes its job lighter "
        "(signflow verifies offline against the embedded data, against the roster too).",
        f"signflow demo signs {tokens}; the usual side uses PKCS#12 throughout.",
        "signflow's first stage includes starting its interpreter and, with SoftHSM2, "
        "loading the token; its last includes the HTML report and the status table.",
        "The usual side's in-process steps (PKI, .docx, fields) are not in its memory "
        "figures.",
        f"`pyhanko sign validate`: {28 - failures}/28 documents passed.",
    ]
    print("\nNotes: " + " ".join(notes))
    results = [Result(f"e2e.stage{i}.signflow", f"signflow demo: {stage}", a, "s")
               for i, (stage, a) in enumerate(zip(STAGES, ours, strict=True), 1)]
    results += [Result(f"e2e.stage{i}.usual", f"usual tools: {stage}", b, "s")
                for i, (stage, b) in enumerate(zip(STAGES, theirs, strict=True), 1)]
    results += [
        Result("e2e.signflow", "`signflow demo`, whole pack", t_ours, "s"),
        Result("e2e.usual", "the usual tools, whole pack", t_theirs, "s"),
        Result("e2e.speedup", "signflow demo's speed-up over the usual tools",
               t_theirs / t_ours, "x", Target(">=", 5, "issue 6")),
        Result("e2e.memory.signflow_largest", "signflow: largest process", rss_ours / 1024,
               "MiB"),
        Result("e2e.memory.usual_largest", "usual tools: largest process", rss_theirs / 1024,
               "MiB"),
        Result("e2e.memory.signflow_all", "signflow: all processes at once",
               tree_ours / 1024, "MiB"),
        Result("e2e.memory.usual_all", "usual tools: all processes at once",
               tree_theirs / 1024, "MiB"),
        Result("e2e.usual_validated", "documents `pyhanko sign validate` passed",
               28 - failures, "documents"),
    ]
    print_targets(results)
    return results
