from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from picohub.errors import PicohubError
from picohub_release.webassets import install_web
from tests.conftest import SOURCE


def test_assets_get_content_hashed_names_and_pages_name_them(tmp_path: Path) -> None:
    renames = install_web(SOURCE / "src" / "web", tmp_path / "web")
    html = (tmp_path / "web" / "index.html").read_text()
    scripts = ("common", "devices", "system", "app")
    assert set(renames) == {*(f"/assets/{name}.js" for name in scripts), "/assets/style.css"}
    # Loaded in this order: each script uses what the ones before it define.
    named = [html.index(renames[f"/assets/{name}.js"]) for name in scripts]
    assert named == sorted(named)
    for old, new in renames.items():
        assert f'"{old}"' not in html and f'"{new}"' in html
        content = (tmp_path / "web" / new.lstrip("/")).read_bytes()
        assert hashlib.sha256(content).hexdigest()[:12] in new
        assert content == (SOURCE / "src" / "web" / old.lstrip("/")).read_bytes()


def test_changed_javascript_gets_a_new_name(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "assets").mkdir(parents=True)
    (source / "index.html").write_text('<script src="/assets/app.js"></script>')
    (source / "assets" / "app.js").write_text("one();")
    first = install_web(source, tmp_path / "one")["/assets/app.js"]
    (source / "assets" / "app.js").write_text("two();")
    second = install_web(source, tmp_path / "two")["/assets/app.js"]
    assert first != second


def test_a_folder_without_a_page_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PicohubError, match=r"has no index\.html"):
        install_web(tmp_path, tmp_path / "out")
