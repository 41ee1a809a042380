"""Install the static frontend with content-hashed asset names.

``assets/app.js`` becomes ``assets/app.<hash>.js`` and every HTML page is rewritten to
name the new file, so a browser can never combine an old page with new JavaScript (or
the reverse) while the hub is upgraded: each page names exactly the assets it was built
with, and those are cached for good while the page itself is revalidated.

Runs inside ``dpkg-buildpackage`` with Debian's python3: standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from picohub.cli import run_command
from picohub.errors import PicohubError

ASSETS = "assets"
HASH_LENGTH = 12


def hashed_name(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
    return f"{path.stem}.{digest}{path.suffix}"


def install_web(source: Path, target: Path) -> dict[str, str]:
    """Copy ``source`` to ``target`` with hashed asset names; return old -> new URL paths."""
    if not (source / "index.html").is_file():
        raise PicohubError(f"{source} has no index.html", hint="point --source at src/web")
    if target.exists():
        shutil.rmtree(target)
    renames: dict[str, str] = {}
    for path in sorted(source.rglob("*")):
        if path.is_dir():
            continue
        relative = path.relative_to(source)
        if relative.parts[0] == ASSETS:
            new = relative.with_name(hashed_name(path))
            renames[f"/{relative.as_posix()}"] = f"/{new.as_posix()}"
            relative = new
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    for page in sorted(target.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        for old_url, new_url in renames.items():
            text = text.replace(f'"{old_url}"', f'"{new_url}"')
        page.write_text(text, encoding="utf-8")
    return renames


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picohub-webassets", description=__doc__)
    parser.add_argument("--source", type=Path, required=True, help="the frontend (src/web)")
    parser.add_argument("--out", type=Path, required=True, help="where to install it")
    args = parser.parse_args(argv)

    def install() -> None:
        for old, new in install_web(args.source, args.out).items():
            print(f"{old} -> {new}")

    return run_command(install)


if __name__ == "__main__":
    sys.exit(main())
