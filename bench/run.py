"""signflow benchmarks, each side by side with the usual way of doing the same job.

    .venv/bin/python bench/run.py [NAME ...] [--check] [--json FILE]

NAME: render, convert, sign, e2e, bulk, verify, scale (all when none is named); each is a module
bench/bench_NAME.py whose ``run()`` prints its markdown tables and returns its figures.
The usual way is the command-line tools a script would call: one `soffice` process per
document, one `pyhanko` process (pyhanko-cli, the `bench` extra) per signature or file.

All figures, with their targets, go to a JSON file (bench/results.json unless --json says
otherwise) with the machine, the date and the git commit. Exit status: 0; with --check, 1
when a target was missed (they are listed); 2 when a benchmark could not run (a tool is
missing: one line says what to install) or failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script (bench/run.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BenchFailed,
    CannotRun,
    Load,
    Result,
    fmt,
    git_commit,
    machine,
    machine_line,
    met_word,
    table,
)

NAMES = ("render", "convert", "sign", "e2e", "bulk", "verify", "scale")
DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run ({', '.join(NAMES)}; all when none named)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="FILE",
                        help=f"where to write the results (default: {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (choose from {', '.join(NAMES)})")
    names = [n for n in NAMES if n in args.names] if args.names else list(NAMES)

    from signflow import ToolMissingError

    started = dt.datetime.now(dt.UTC)
    host = machine()
    commit = git_commit()
    print("# signflow benchmarks\n")
    print(f"Run on {started:%Y-%m-%d %H:%M} UTC at commit {commit['commit'][:12]}"
          f"{' (with uncommitted changes)' if commit['dirty'] else ''}.\n")
    print(f"Machine: {machine_line(host)}")

    report: dict[str, Any] = {
        "schema": 1,
        "date": started.isoformat(timespec="seconds"),
        "commit": commit["commit"],
        "dirty": commit["dirty"],
        "command": ["bench/run.py", *(argv if argv is not None else sys.argv[1:])],
        "machine": host,
        "benchmarks": {},
    }
    all_results: list[tuple[str, Result]] = []
    cannot: dict[str, str] = {}
    for name in names:
        entry: dict[str, Any] = {"status": "ok", "results": []}
        with Load() as load:
            try:
                results = importlib.import_module(f"bench.bench_{name}").run()
            except (CannotRun, ToolMissingError) as e:
                entry["status"], entry["reason"] = "could not run", str(e)
                cannot[name] = f"could not run: {e}"
            except BenchFailed as e:
                entry["status"], entry["reason"] = "failed", str(e)
                cannot[name] = f"failed: {e}"
            except Exception as e:  # a bug: the traceback, then the other benchmarks
                traceback.print_exc()
                entry["status"], entry["reason"] = "failed", f"{type(e).__name__}: {e}"
                cannot[name] = f"failed: {type(e).__name__}: {e}"
            else:
                entry["results"] = [r.as_json() for r in results]
                all_results += [(name, r) for r in results]
        entry["load"] = load.as_json()
        report["benchmarks"][name] = entry
        if name in cannot:
            print(f"\n{name}: {cannot[name]}", flush=True)
        busy = load.other_cores
        print(f"\n({name}: {load.wall:.0f} s"
              + (f"; other programs kept {busy:.2f} of {host['cores']} cores busy on average"
                 if busy is not None else "") + ")", flush=True)

    missed = [(name, r) for name, r in all_results if r.met is False]
    report["missed"] = [r.name for _, r in missed]
    report["could_not_run"] = cannot
    summary(all_results, report)
    write_json(args.json, report)
    print(f"\nResults: {args.json}")

    for name, why in cannot.items():
        print(f"{name}: {why}", file=sys.stderr)
    if missed:
        print("Targets missed: " + "; ".join(
            f"{r.label}: {r.shown()} (target {r.target.op} {fmt(r.target.bound, r.unit)})"
            for _, r in missed if r.target is not None), file=sys.stderr)
    if cannot:
        return 2
    return 1 if args.check and missed else 0


def summary(results: list[tuple[str, Result]], report: dict[str, Any]) -> None:
    rows = []
    for name, r in results:
        if r.target is None:
            continue
        busy = report["benchmarks"][name]["load"]["other_cores"]
        rows.append((r.name, r.label, r.shown(), f"{r.target.op} {fmt(r.target.bound, r.unit)}",
                     r.target.source, met_word(r.met),
                     "?" if busy is None else f"{busy:.2f}"))
    for name, entry in report["benchmarks"].items():
        if entry["status"] != "ok":
            rows.append((name, entry["status"], "", "", "", "", ""))
    if rows:
        table("Targets", rows, ("figure", "what", "measured", "target", "set in", "met?",
                                "other load (cores)"))


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Atomically: a temporary file beside it, then a rename."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(report, f, ensure_ascii=False, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


if __name__ == "__main__":
    sys.exit(main())
