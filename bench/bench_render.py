"""render: one template filled by signflow (strict undefined, escaping, checks, atomic
write) against plain docxtpl with its defaults (what a script would do). Median of 15, both
warmed up. Target: under 100 ms a template.

The public API renders only whole packs (``signflow.generate_pack``: plan, manifest,
staging folder); this benchmark times the one step inside it, so it calls the modules
that ``generate_pack`` calls: signflow.documents.context (the template's variables),
signflow.documents.generate (where the templates are) and signflow.documents.render.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from bench.common import DATA, ROSTER, Result, Target, print_targets, table, temporary_folder, timed

KINDS = (("giao-uoc-thi-dua", None), ("ke-hoach-phat-dong", "ha-nam"),
         ("dang-ky-thi-dua", "ha-nam"), ("giao-uoc-noi-bo", "ha-nam"))
TARGET = Target("<", 0.100, "bdce066")  # set when the benchmark was added


def run() -> list[Result]:
    from docxtpl import DocxTemplate

    import signflow
    from signflow.documents.context import document_context
    from signflow.documents.generate import default_templates_dir
    from signflow.documents.render import render_file

    roster = signflow.load_roster(ROSTER)
    data = signflow.load_data([DATA])
    rows = []
    results = []
    with temporary_folder() as tmp:
        for kind, member in KINDS:
            template = default_templates_dir() / f"{kind}.docx"
            ctx = document_context(roster, data, kind, member)
            out = Path(tmp) / f"{kind}.docx"

            def plain(template: Path = template, ctx: dict = ctx, out: Path = out) -> None:
                tpl = DocxTemplate(str(template))
                tpl.render(ctx)
                tpl.save(str(out))

            def ours(template: Path = template, ctx: dict = ctx, out: Path = out) -> None:
                render_file(template, ctx, out)

            ours()
            plain()  # warm both
            t_ours = statistics.median(timed(ours, 15))
            t_plain = statistics.median(timed(plain, 15))
            rows.append((kind, f"{t_ours * 1000:.0f} ms", f"{t_plain * 1000:.0f} ms "
                         f"(signflow/plain = {t_ours / t_plain:.2f})"))
            results += [
                Result(f"render.{kind}.signflow", f"render {kind} with signflow", t_ours, "s",
                       TARGET),
                Result(f"render.{kind}.docxtpl", f"render {kind} with plain docxtpl",
                       t_plain, "s"),
            ]
    table("Render one template (median of 15)", rows, ("template", "signflow", "plain docxtpl"))
    print_targets(results)
    return results
