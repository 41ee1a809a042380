"""The picohub bundle taken out of an SWUpdate image (.swu), as goosebit hands it out:
a good image in both cpio formats, and images cut short, without a bundle, with two,
with a member that would escape, or otherwise not what picohub makes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from picohub.update.swu import SwuError, extract_bundle, is_swu
from tests.goosebit.swu import CRC_MAGIC, MAGIC, member, sw_description, trailer, write_swu

NAME = "picohub-1.5.0.bundle.tar"


def _tar(*files: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


BUNDLE = _tar(("InRelease", b"signed\n"), ("pool/picohub_1.5.0_all.deb", bytes(3000)))
DESCRIPTION = sw_description("1.5.0", NAME, BUNDLE).encode()


def _image(tmp_path: Path, *members: bytes, magic: bytes = MAGIC) -> Path:
    path = tmp_path / "picohub-1.5.0.swu"
    path.write_bytes(b"".join(members) + trailer(magic))
    return path


def _refused(path: Path, tmp_path: Path, said: str) -> None:
    out = tmp_path / "out"
    with pytest.raises(SwuError) as caught:
        extract_bundle(path, out)
    assert said in caught.value.message, caught.value.message
    assert caught.value.message.startswith(f"the SWUpdate image {path.name} is not usable")
    assert not out.exists() or not any(out.iterdir())  # nothing left behind, not a .part


def test_the_bundle_is_taken_out_of_a_good_image(tmp_path: Path) -> None:
    swu = write_swu(tmp_path / "picohub-1.5.0.swu", "1.5.0", NAME, BUNDLE)
    assert is_swu(swu)
    found = extract_bundle(swu, tmp_path / "out")
    assert found == tmp_path / "out" / NAME
    assert found.read_bytes() == BUNDLE
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [NAME]


def test_the_crc_format_is_read_and_its_checksums_checked(tmp_path: Path) -> None:
    good = _image(
        tmp_path,
        member("sw-description", DESCRIPTION, 1, magic=CRC_MAGIC),
        member(NAME, BUNDLE, 2, magic=CRC_MAGIC),
        magic=CRC_MAGIC,
    )
    assert is_swu(good)
    assert extract_bundle(good, tmp_path / "good").read_bytes() == BUNDLE
    wrong = sum(BUNDLE) + 1
    bad = _image(
        tmp_path,
        member("sw-description", DESCRIPTION, 1, magic=CRC_MAGIC),
        member(NAME, BUNDLE, 2, magic=CRC_MAGIC, checksum=wrong),
        magic=CRC_MAGIC,
    )
    _refused(bad, tmp_path, f"member {NAME!r} does not match its cpio checksum")


def test_a_plain_bundle_is_not_an_image(tmp_path: Path) -> None:
    bundle = tmp_path / NAME
    bundle.write_bytes(BUNDLE)
    assert not is_swu(bundle)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert not is_swu(empty)


@pytest.mark.parametrize(
    ("keep", "said"),
    [
        (50, "it ends at byte 50, before its trailer"),  # inside the first header
        (115, "the name of member 1 is cut short"),
        (2000, f"member {NAME!r} has"),  # inside the bundle: its size is more than is left
        (-20, "before its trailer"),  # the trailer cut off
    ],
)
def test_a_truncated_image_is_refused(tmp_path: Path, keep: int, said: str) -> None:
    whole = write_swu(tmp_path / "whole.swu", "1.5.0", NAME, BUNDLE).read_bytes()
    cut = tmp_path / "picohub-1.5.0.swu"
    cut.write_bytes(whole[:keep])
    _refused(cut, tmp_path, said)


def test_an_image_without_a_tar_is_refused(tmp_path: Path) -> None:
    image = _image(
        tmp_path, member("sw-description", DESCRIPTION, 1), member(NAME, b"not a tar" * 100, 2)
    )
    _refused(image, tmp_path, "none of its members is a tar (the picohub bundle)")


def test_an_image_with_two_tars_is_refused(tmp_path: Path) -> None:
    image = _image(
        tmp_path,
        member("sw-description", DESCRIPTION, 1),
        member(NAME, BUNDLE, 2),
        member("other.tar", _tar(("x", b"x")), 3),
    )
    _refused(image, tmp_path, f"it has 2 tar members ('{NAME}', 'other.tar'); one is the bundle")


@pytest.mark.parametrize("name", ["../picohub.bundle.tar", "/etc/cron.d/x", "a/b.tar", ".."])
def test_a_member_that_would_escape_is_refused(tmp_path: Path, name: str) -> None:
    image = _image(tmp_path, member("sw-description", DESCRIPTION, 1), member(name, BUNDLE, 2))
    _refused(image, tmp_path, f"the member name {name!r} is not a plain file name")


def test_other_images_are_refused(tmp_path: Path) -> None:
    cases = [
        ((member(NAME, BUNDLE, 1),), f"its first member is {NAME!r}, not sw-description"),
        (
            (member("sw-description", DESCRIPTION, 1), member("link", b"x", 2, mode=0o120777)),
            "member 'link' is not a regular file",
        ),
        (
            (member("sw-description", DESCRIPTION, 1), member("sw-description", b"", 2)),
            "two members are named 'sw-description'",
        ),
        (
            (member("sw-description", DESCRIPTION, 1), member("x" * 300, BUNDLE, 2)),
            "member 2 has a name of 301 bytes",
        ),
        (
            (
                member("sw-description", DESCRIPTION, 1),
                *(member(f"m{i}", b"", i) for i in range(70)),
            ),
            "it has more than 64 members",
        ),
    ]
    for number, (members, said) in enumerate(cases):
        folder = tmp_path / str(number)
        folder.mkdir()
        _refused(_image(folder, *members), folder, said)


def test_a_bundle_over_the_limit_is_refused(tmp_path: Path) -> None:
    swu = write_swu(tmp_path / "picohub-1.5.0.swu", "1.5.0", NAME, BUNDLE)
    with pytest.raises(SwuError, match=f"more than the limit of {len(BUNDLE) - 1}"):
        extract_bundle(swu, tmp_path / "out", max_bytes=len(BUNDLE) - 1)


def test_a_header_field_that_is_not_hex_is_refused(tmp_path: Path) -> None:
    good = member("sw-description", DESCRIPTION, 1)
    bad = good[:54] + b"ZZZZZZZZ" + good[62:]  # the size field
    _refused(_image(tmp_path, bad), tmp_path, "a header field is b'ZZZZZZZZ', not 8 hex digits")


def _odc(name: str, data: bytes) -> bytes:
    """A member in cpio's old portable ASCII format (magic 070707, octal fields)."""
    raw = name.encode() + b"\0"
    fields = (0, 1, 0o100644, 0, 0, 1, 0)
    head = b"070707" + b"".join(b"%06o" % field for field in fields)
    return head + b"%011o" % 0 + b"%06o" % len(raw) + b"%011o" % len(data) + raw + data


@pytest.mark.parametrize("start", [b"", b"\xc7\x71", b"\x71\xc7"], ids=["odc", "bin-le", "bin-be"])
def test_an_image_in_an_older_cpio_format_is_refused_with_what_to_do(
    tmp_path: Path, start: bytes
) -> None:
    archive = _odc("sw-description", DESCRIPTION) + _odc(NAME, BUNDLE)
    swu = tmp_path / "picohub-1.5.0.swu"
    swu.write_bytes(start + bytes(24) if start else archive)
    assert is_swu(swu)  # not taken for a plain bundle, whose refusal would mislead
    _refused(swu, tmp_path, "a cpio archive of an older format")
    _refused(swu, tmp_path, "cpio -H newc")
