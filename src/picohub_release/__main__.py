"""``python -m picohub_release``: the release tool's command line.

build           build the Debian packages into dist/
release         build, write the signed flat apt repository (dist/repo), verify it
verify          check a repository directory as a device would
publish         publish a repository as a GitHub Release
notes           print the release notes (the newest debian/changelog entry)
firmware-key    print the public half of the firmware signing key, for board firmware
hawkbit-upload  put a release's offline bundle into hawkBit as a distribution set
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from datetime import timedelta
from pathlib import Path

from picohub import logs
from picohub.cli import run_command
from picohub.errors import UsageError
from picohub.repository import verify_repository
from picohub_release.build import build_debs
from picohub_release.download import download_repository
from picohub_release.firmware_key import (
    FIRMWARE_KEY_VARIABLE,
    FirmwareKey,
    firmware_key_from_environment,
    local_firmware_key,
)
from picohub_release.firmware_signing import public_key
from picohub_release.github import GitHubRepo
from picohub_release.hawkbit_api import (
    PASSWORD_VARIABLE,
    USER_VARIABLE,
    ManagementClient,
    credentials,
)
from picohub_release.hawkbit_upload import MODULE_TYPE, SET_TYPE, read_bundle, upload_bundle
from picohub_release.publish import publish_release
from picohub_release.release import make_release
from picohub_release.signing import LOCAL_KEY_DIR, Signer, local_signer, signer_from_environment
from picohub_release.versions import changelog_notes

MAX_VALID_DAYS = 3650


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="picohub-release",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="log every command run")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the Debian packages into dist/")
    release = commands.add_parser("release", help="build and write the signed repository")
    for command in (build, release):
        command.add_argument("--source", type=Path, default=Path.cwd(), help="source tree")
        command.add_argument("--dist", type=Path, default=Path("dist"), help="output directory")
        command.add_argument("--work", type=Path, default=Path("build"), help="scratch dir")
    build.add_argument("--version", help="stamp this version (test builds only)")
    build.add_argument(
        "--key",
        choices=("local", "env"),
        default="local",
        help="the key that signs the firmware manifest: local (default): a throwaway key in "
        f".cache/firmware-key; env: ${FIRMWARE_KEY_VARIABLE}",
    )
    release.add_argument("--repo", type=Path, default=Path("dist/repo"), help="repository dir")
    release.add_argument(
        "--key",
        choices=("local", "env"),
        required=True,
        help="local: throwaway keys in .cache/release-key and .cache/firmware-key; env: "
        f"$PICOHUB_SIGNING_KEY and ${FIRMWARE_KEY_VARIABLE}",
    )
    release.add_argument(
        "--tag",
        default=os.environ.get("PICOHUB_RELEASE_TAG"),
        help="the git tag being released; must be v<changelog version>",
    )
    release.add_argument("--keyring", type=Path, help="verify against this keyring")
    release.add_argument(
        "--valid-for",
        type=_days,
        metavar="DAYS",
        help="write Valid-Until, DAYS after the release's Date: hubs refuse the latest "
        "release once it has passed, so the channel must be published again before then",
    )
    release.add_argument(
        "--phase",
        type=_percent,
        metavar="PERCENT",
        help="phase the release: write Phased-Update-Percentage (0-100) into every package; "
        "a hub installs it automatically only when its bucket (from /etc/machine-id) is "
        "below it, 0 halts it (a manual install still works). Signed with the index: it "
        "cannot be raised later on an immutable GitHub release",
    )

    verify = commands.add_parser("verify", help="check a repository as a device would")
    verify.add_argument("directory", help="a repository directory, or a release's URL")
    verify.add_argument("--keyring", type=Path, required=True, help="the trusted keyring")

    publish = commands.add_parser("publish", help="publish a repository as a GitHub Release")
    publish.add_argument("directory", type=Path, help="the repository (dist/repo)")
    publish.add_argument("--github-repo", required=True, help="OWNER/REPO")
    publish.add_argument("--tag", required=True, help="the release's tag, vX.Y.Z")
    publish.add_argument("--api-url", default="https://api.github.com")
    publish.add_argument("--source", type=Path, default=Path.cwd(), help="for the notes")
    publish.add_argument("--prerelease", action="store_true")

    notes = commands.add_parser("notes", help="print the release notes")
    notes.add_argument("--source", type=Path, default=Path.cwd())

    firmware_key = commands.add_parser(
        "firmware-key", help="print the public half of the firmware signing key"
    )
    firmware_key.add_argument(
        "--public", action="store_true", help="print the public half (all it prints; for clarity)"
    )
    firmware_key.add_argument(
        "--key",
        choices=("local", "env"),
        default="local",
        help=f"local (default): .cache/firmware-key; env: ${FIRMWARE_KEY_VARIABLE}",
    )
    firmware_key.add_argument(
        "--point",
        action="store_true",
        help="also print the raw uncompressed point (65 bytes, 04 || X || Y) as hex",
    )

    hawkbit = commands.add_parser(
        "hawkbit-upload",
        help="put a release's offline bundle into hawkBit as a distribution set",
    )
    hawkbit.add_argument("--server", required=True, help="hawkBit's base URL (https)")
    hawkbit.add_argument("--tenant", required=True, help="the tenant hubs poll (DEFAULT)")
    hawkbit.add_argument(
        "--bundle", type=Path, required=True, help="the release's picohub_VERSION_bundle.tar"
    )
    hawkbit.add_argument("--version", required=True, help="the release's version")
    hawkbit.add_argument(
        "--user-file",
        type=Path,
        help=f"USER:PASSWORD on its first line; else ${USER_VARIABLE} and ${PASSWORD_VARIABLE}",
    )
    hawkbit.add_argument(
        "--module-type", default=MODULE_TYPE, help=f"software module type key ({MODULE_TYPE})"
    )
    hawkbit.add_argument(
        "--set-type", default=SET_TYPE, help=f"distribution set type key ({SET_TYPE})"
    )
    return parser


def _hawkbit_upload(args: argparse.Namespace) -> None:
    bundle = read_bundle(args.bundle, args.version)
    client = ManagementClient(args.server, args.tenant, credentials(args.user_file))
    uploaded = upload_bundle(client, bundle, module_type=args.module_type, set_type=args.set_type)
    if uploaded.made:
        print(f"hawkBit: made {', '.join(uploaded.made)} for picohub {bundle.version}")
    else:
        print(f"hawkBit already holds picohub {bundle.version} with this bundle: nothing changed")
    print(
        f"software module {uploaded.module_id}, artifact {uploaded.artifact_id} "
        f"(sha256 {bundle.sha256})"
    )
    print(f"distribution set {uploaded.set_id}: {uploaded.set_url}")
    print(f"tenant {client.tenant}: assign it to targets or start a rollout with it")


def _days(text: str) -> timedelta:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= MAX_VALID_DAYS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number of days from 1 to {MAX_VALID_DAYS}"
        )
    return timedelta(days=days)


def _percent(text: str) -> int:
    try:
        percent = int(text)
    except ValueError:
        percent = -1
    if not 0 <= percent <= 100 or not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole percentage from 0 to 100")
    return percent


def _signer(kind: str) -> AbstractContextManager[Signer]:
    if kind == "env":
        return signer_from_environment()
    return nullcontext(local_signer(LOCAL_KEY_DIR))


def _firmware_key(kind: str) -> AbstractContextManager[FirmwareKey]:
    if kind == "env":
        return firmware_key_from_environment()
    return nullcontext(local_firmware_key())


def _run(args: argparse.Namespace) -> None:
    if args.command == "build":
        with _firmware_key(args.key) as firmware_key:
            result = build_debs(
                args.source.resolve(),
                args.dist.resolve(),
                args.work.resolve(),
                version=args.version,
                firmware_key=firmware_key,
            )
        for deb in result.debs:
            print(deb)
    elif args.command == "release":
        with ExitStack() as keys:
            firmware_key = keys.enter_context(_firmware_key(args.key))
            signer = keys.enter_context(_signer(args.key))
            made = make_release(
                args.source.resolve(),
                args.dist.resolve(),
                args.work.resolve(),
                args.repo.resolve(),
                signer,
                firmware_key=firmware_key,
                tag=args.tag,
                keyring=args.keyring,
                valid_for=args.valid_for,
                phase=args.phase,
            )
        print(f"release {made.repository.version} signed by {made.verified.release.fingerprint}")
        print(f"repository: {made.repository.directory}")
    elif args.command == "verify":
        with tempfile.TemporaryDirectory(prefix="picohub-verify-") as scratch:
            directory = Path(args.directory)
            if args.directory.startswith(("http://", "https://")):
                directory = Path(scratch)
                download_repository(args.directory, directory, args.keyring)
            verified = verify_repository(directory, args.keyring)
        for package in verified.packages:
            print(f"ok {package.package} {package.version} {package.filename}")
        print(f"repository verified: signed by {verified.release.fingerprint}")
    elif args.command == "publish":
        owner, _, name = args.github_repo.partition("/")
        if not owner or not name:
            raise UsageError(f"--github-repo {args.github_repo!r} is not OWNER/REPO")
        token = os.environ.get("GITHUB_TOKEN") or None
        repo = GitHubRepo(owner, name, api_url=args.api_url, token=token)
        assets = sorted(path for path in args.directory.iterdir() if path.is_file())
        release = publish_release(
            repo,
            tag=args.tag,
            title=f"picohub {args.tag.removeprefix('v')}",
            notes=changelog_notes(args.source),
            assets=assets,
            prerelease=args.prerelease,
        )
        print(f"published {release.tag}: {release.html_url} ({len(release.assets)} assets)")
    elif args.command == "notes":
        print(changelog_notes(args.source), end="")
    elif args.command == "firmware-key":
        with _firmware_key(args.key) as firmware_key:
            public = public_key(firmware_key.path)
        print(public.pem, end="")
        if args.point:
            print(public.point.hex())
    elif args.command == "hawkbit-upload":
        _hawkbit_upload(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(logging.DEBUG if args.debug else logging.INFO)
    return run_command(lambda: _run(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
