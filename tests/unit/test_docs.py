"""The documentation holds together: README.md and docs/*.md link only to files (and
headings) that exist, name only make targets the Makefile has, and document every exit
code the code defines, as the manual pages do. Plain text reading, no tools."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from picohub.errors import ExitCode
from tests.conftest import SOURCE

DOCUMENTS = sorted([SOURCE / "README.md", *(SOURCE / "docs").glob("*.md")])
MANUALS = (SOURCE / "debian" / "picohub-update.1", SOURCE / "debian" / "picohub.1")
EXIT_CODES_HEADING = "exit codes"

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
# `make TARGET`, `sudo make TARGET`, `VAR=x make TARGET`, `make -j2 TARGET VAR=x`.
_MAKE = re.compile(
    r"(?:^|(?<=[\s;&|(]))make"
    r"((?:\s+(?:-\S+|[A-Za-z_]\w*=\S*))*)"  # options and variables
    r"\s+([A-Za-z0-9_](?:[\w.-]*[\w-])?)(?![\w=-]|\.\w)"  # the target
)
_RULE = re.compile(r"^([^\s#:=][^:=]*?)\s*::?(?!=)")
_TABLE_ROW = re.compile(r"^\|\s*([^|]*?)\s*\|")
_MANUAL_CODE = re.compile(r"^\.B\s+(\d+)\s*$", re.MULTILINE)


def _relative(path: Path) -> str:
    return str(path.relative_to(SOURCE))


def prose_lines(text: str) -> Iterator[str]:
    """The lines outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield line


def code_texts(text: str) -> Iterator[str]:
    """What a document shows as code: fenced and indented blocks, and inline spans."""
    fenced = False
    previous_blank = True
    in_block = False
    prose: list[str] = []
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            yield line
            continue
        indented = line.startswith(("    ", "\t")) and bool(line.strip())
        in_block = indented and (previous_blank or in_block)
        if in_block:
            yield line
        elif line.strip():
            prose.append(line)
        previous_blank = not line.strip()
    for span in _CODE_SPAN.finditer("\n".join(prose)):
        yield span.group(2)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(document.read_text(encoding="utf-8")):
        heading = _HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(document: Path) -> Iterator[str]:
    for line in prose_lines(document.read_text(encoding="utf-8")):
        for link in _LINK.finditer(_CODE_SPAN.sub("", line)):
            yield link.group(1)


def make_targets(makefile: Path) -> set[str]:
    targets: set[str] = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        rule = _RULE.match(line)
        if rule is not None:
            targets.update(rule.group(1).split())
    return targets


def defined_exit_codes(source: Path) -> dict[int, str]:
    """Every exit code the code defines: the members of ExitCode, and the module-level
    int constants (or literals) a module passes to ``sys.exit`` (the app's CANNOT_START)."""
    codes = {int(member): f"ExitCode.{member.name}" for member in ExitCode}
    for module in sorted(source.rglob("*.py")):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        constants = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and type(node.value.value) is int
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "exit"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "sys"
                and node.args
            ):
                continue
            argument = node.args[0]
            where = _relative(module)
            if isinstance(argument, ast.Name) and argument.id in constants:
                codes.setdefault(constants[argument.id], f"{where}: {argument.id}")
            elif isinstance(argument, ast.Constant) and type(argument.value) is int:
                codes.setdefault(argument.value, where)
    return codes


def documented_exit_codes(documents: list[Path]) -> tuple[Path, set[int]]:
    """The codes in the first column of the table under the heading "Exit codes"."""
    for document in documents:
        lines = list(prose_lines(document.read_text(encoding="utf-8")))
        for index, line in enumerate(lines):
            heading = _HEADING.match(line)
            if heading is None or heading.group(2).strip().lower() != EXIT_CODES_HEADING:
                continue
            codes: set[int] = set()
            for row in lines[index + 1 :]:
                if _HEADING.match(row):
                    break
                cell = _TABLE_ROW.match(row)
                if cell is not None and cell.group(1).isdigit():
                    codes.add(int(cell.group(1)))
            return document, codes
    pytest.fail("no document has an 'Exit codes' heading with a table")


def manual_exit_codes(manual: Path) -> set[int]:
    text = manual.read_text(encoding="utf-8")
    section = re.search(r"^\.SH EXIT STATUS\n(.*?)(?=^\.SH |\Z)", text, re.DOTALL | re.MULTILINE)
    assert section, f"{_relative(manual)} has no EXIT STATUS section"
    return {int(code) for code in _MANUAL_CODE.findall(section.group(1))}


def test_the_documents_are_found() -> None:
    names = {_relative(document) for document in DOCUMENTS}
    assert {"README.md", "docs/updater.md", "docs/api.md", "docs/development.md"} <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=_relative)
def test_every_relative_link_points_at_a_file_and_heading_that_exist(document: Path) -> None:
    broken = []
    for link in links(document):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # https:, mailto: ...
            continue
        path, _, anchor = link.partition("#")
        target = (document.parent / path).resolve() if path else document
        if path.startswith("/") or not target.exists():
            broken.append(f"{link}: no such file")
        elif SOURCE not in target.parents and target != SOURCE:
            broken.append(f"{link}: outside the repository")
        elif anchor and target.suffix != ".md":
            broken.append(f"{link}: an anchor in a file that is not Markdown")
        elif anchor and anchor not in anchors(target):
            broken.append(f"{link}: {_relative(target)} has no heading #{anchor}")
    assert not broken, f"{_relative(document)}: {broken}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_relative)
def test_every_make_target_named_is_in_the_makefile(document: Path) -> None:
    targets = make_targets(SOURCE / "Makefile")
    text = document.read_text(encoding="utf-8")
    named = {match.group(2) for code in code_texts(text) for match in _MAKE.finditer(code)}
    assert not named - targets, f"{_relative(document)} names {sorted(named - targets)}"


def test_the_readme_names_the_developers_commands() -> None:
    text = (SOURCE / "README.md").read_text(encoding="utf-8")
    named = {match.group(2) for code in code_texts(text) for match in _MAKE.finditer(code)}
    assert {"debs", "test", "release", "demo", "bench", "faults"} <= named


def test_every_exit_code_the_code_defines_is_in_the_exit_code_table() -> None:
    defined = defined_exit_codes(SOURCE / "src")
    assert {0, 1, 2, 100} <= set(defined)  # the scan itself works
    document, documented = documented_exit_codes(DOCUMENTS)
    missing = {code: where for code, where in defined.items() if code not in documented}
    assert not missing, f"{_relative(document)}'s exit codes lack {missing}"
    assert not documented - set(defined), (
        f"{_relative(document)} documents codes nothing defines: {documented - set(defined)}"
    )


def test_the_manual_pages_document_the_same_exit_codes() -> None:
    updater = manual_exit_codes(SOURCE / "debian" / "picohub-update.1")
    assert updater == {int(member) for member in ExitCode}
    in_manuals = set().union(*(manual_exit_codes(manual) for manual in MANUALS))
    assert in_manuals == set(defined_exit_codes(SOURCE / "src"))


def test_the_package_ships_documents_that_exist() -> None:
    shipped = (SOURCE / "debian" / "picohub.docs").read_text(encoding="utf-8").split()
    assert "README.md" in shipped
    assert not [name for name in shipped if not (SOURCE / name).is_file()]
