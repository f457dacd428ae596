"""Extract every user-facing string (the arguments of ``_()``) into the Vietnamese catalogue.

Run ``python tools/update_catalog.py`` after adding messages; new entries come with an empty
translation, entries no longer used are dropped. The test suite fails while any message has
no Vietnamese translation.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from signflow.i18n import catalog_path  # noqa: E402

# click's own messages shown to users (usage errors, help headings), translated too.
CLICK_MESSAGES = [
    "Usage:",
    "Options",
    "Commands",
    "Show this message and exit.",
    "Show the version and exit.",
    "Error: {message}",
    "Missing argument",
    "Missing option",
    "Missing parameter",
    "Missing argument '{param}'.",
    "Missing option '{param}'.",
    "Missing {param_type}",
    "Invalid value for {param_hint}: {message}",
    "Invalid value: {message}",
    "No such option: {name}",
    "No such command {name!r}.",
    "No such option {name!r}.",
    "Try '{command} {option}' for help.",
    "Option {name!r} requires an argument.",
    "Option {name!r} does not take a value.",
    "Got unexpected extra argument ({args})",
    "Got unexpected extra arguments ({args})",
    "{value!r} is not one of {choices}.",
    "{value!r} is not {choice}.",
    "{value!r} is not a valid {number_type}.",
    "{name} {filename!r} does not exist.",
    "{name} {filename!r} is a directory.",
    "{name} {filename!r} is a file.",
    "{name} {filename!r} is not readable.",
    "{name} {filename!r} is not writable.",
    "file",
    "directory",
    "path",
    "Aborted!",
    "default: {default}",
    "env var: {var}",
    "Missing command.",
    "Could not open file {filename!r}: {message}",
    "Repeat for confirmation",
    "Error: The two entered values do not match.",
    # help
    "required",
    "Positional arguments",
    "deprecated",
    "(dynamic)",
    "%(prog)s, version %(version)s",
    "Do you want to continue?",
    "Confirm the action without prompting.",
    # usage errors
    "Missing parameter: {param_name}",
    "Did you mean {possibility}?",
    "(Did you mean one of: {possibilities}?)",
    "Option {name!r} requires {nargs} arguments.",
    "Argument {name!r} takes {nargs} values.",
    "Invalid start character for option ({option})",
    "Takes {nargs} values but 1 was given.",
    "Takes {nargs} values but {len} were given.",
    "Value must be an iterable.",
    "{len_type} values are required, but {len_value} was given.",
    "{len_type} values are required, but {len_value} were given.",
    "Choose from:\n\t{choices}",
    "{value} is not in the range {range}.",
    "{value!r} does not match the format {format}.",
    "{value!r} does not match the formats {formats}.",
    "{value!r} is not a valid boolean. Recognized values: {states}",
    "{value!r} is not a valid UUID.",
    "{name} {filename!r} is not executable.",
    "unknown error",
    "Error: invalid input",
    "Press any key to continue...",
    # the type names click puts into "{value!r} is not a valid {number_type}."
    "integer",
    "integer range",
    "float",
    "float range",
]

# click's messages that only a programmer sees (mistakes in declaring commands, other
# platforms, features signflow does not use): not translated. tests/test_help.py checks that
# every message of click's is in one of the two lists.
CLICK_DEVELOPER_MESSAGES = [
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}",
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}",
    "Could not determine name for option with declarations {decls!r}",
    "No options defined but a name was passed ({name}). Did you mean to declare an argument "
    "instead? Did you mean to pass '--{name}'?",
    "Arguments take exactly one parameter declaration, got {length}: {decls}.",
    "Name '{name}' defined twice",
    "Boolean option {decl!r} cannot use the same flag for true/false.",
    "Choice({choices})",
    "Unknown color {colour!r}",
    "Unknown standard stream '{name}'",
]


# ``_("...")`` in a Jinja template (the agent's pages): one string literal, as in Python
TEMPLATE_CALL = re.compile(r"""\b_\(\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*\)""")


def extract_template(path: Path, found: dict[str, list[str]]) -> None:
    text = path.read_text(encoding="utf-8")
    for match in TEMPLATE_CALL.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        message = ast.literal_eval(match.group(1))
        found.setdefault(message, []).append(f"{path.relative_to(ROOT)}:{line}")


def extract(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        if path.suffix == ".html":
            extract_template(path, found)
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "_"
                and node.args
            ):
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(arg.value, []).append(where)
    return found


def source_files() -> list[Path]:
    package = ROOT / "signflow"
    return sorted([*package.rglob("*.py"), *package.rglob("templates/*.html")])


def main() -> int:
    messages = extract(source_files())
    for msg in CLICK_MESSAGES:
        messages.setdefault(msg, ["click"])
    path = catalog_path("vi")
    path.parent.mkdir(parents=True, exist_ok=True)
    old = polib.pofile(str(path)) if path.exists() else polib.POFile()
    existing = {e.msgid: e for e in old}
    po = polib.POFile()  # wrapped like any polib or PO editor save: small diffs
    po.metadata = {
        "Project-Id-Version": "signflow",
        "Language": "vi",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    untranslated = 0
    for msgid in sorted(messages):
        entry = existing.get(msgid)
        msgstr = entry.msgstr if entry else ""
        if not msgstr:
            untranslated += 1
        po.append(polib.POEntry(
            msgid=msgid, msgstr=msgstr,
            occurrences=[(w.split(":")[0], w.split(":")[1]) for w in messages[msgid][:3]
                         if ":" in w]))
    po.save(str(path))
    compile_catalog(path)
    print(f"{path}: {len(po)} messages, {untranslated} untranslated")
    return 0


def compile_catalog(po_path: Path) -> Path:
    """The compiled catalogue (.mo) beside ``po_path``, which signflow reads at run time
    (parsing the .po takes longer than many a command); fuzzy and untranslated entries are
    left out, as gettext does. Run after every change to the .po (tests/test_i18n.py
    checks that the two agree)."""
    mo_path = po_path.with_suffix(".mo")
    polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
    return mo_path


if __name__ == "__main__":
    sys.exit(main())
