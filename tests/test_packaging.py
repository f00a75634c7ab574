"""What a user installs: the wheel's contents, and type information a user's ``mypy --strict`` can use."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).resolve().parents[1]

USER_FILE = """
from modelmesh import MeshClient, PoolStatus, create
from langchain_modelmesh import ChatModelMesh


def build() -> MeshClient:
    return create("chat-completion", models=["gpt-4o"])


def current(client: MeshClient) -> str | None:
    status: dict[str, PoolStatus] = client.pool_status()
    return status["chat-completion"].current_model


def answer(client: MeshClient) -> str:
    response = client.chat.completions.create(
        model="chat-completion", messages=[{"role": "user", "content": "Hello!"}]
    )
    return response.choices[0].message.content or ""


def rotated(client: MeshClient) -> str | None:
    return client.rotate("chat-completion")


def llm() -> ChatModelMesh:
    return ChatModelMesh(model="chat-completion")
"""


def test_wheel_ships_py_typed_for_both_packages_and_the_catalogue(tmp_path: Path) -> None:
    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"modelmesh/py.typed", "langchain_modelmesh/py.typed"} <= names
    assert {"modelmesh/providers/catalog/providers.yaml", "modelmesh/providers/catalog/models.yaml"} <= names
    assert not any(name.startswith("tests/") for name in names)
    assert any(name.endswith("licenses/LICENSE") for name in names)


def test_a_users_mypy_strict_sees_the_packages_as_typed(tmp_path: Path) -> None:
    (tmp_path / "user_app.py").write_text(USER_FILE)
    # The packages come from the import path as an installed package would (not from the checked
    # directory), which is where mypy insists on py.typed.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--cache-dir",
        str(tmp_path / "cache"),
        "user_app.py",
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "import-untyped" not in result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def _declared_extras() -> set[str]:
    import tomllib

    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def test_every_extra_the_docs_and_messages_name_is_declared() -> None:
    import re

    sources = [
        ROOT / "README.md",
        *sorted((ROOT / "docs").rglob("*.md")),
        *sorted((ROOT / "modelmesh").rglob("*.py")),
    ]
    named = {
        (path.relative_to(ROOT).as_posix(), extra)
        for path in sources
        for group in re.findall(r"modelmesh\[([a-z0-9_,\- ]+)\]", path.read_text(encoding="utf-8"))
        for extra in group.replace(" ", "").split(",")
    }
    assert named, "the pattern must find the README's extras"
    assert {(where, extra) for where, extra in named if extra not in _declared_extras()} == set()


def test_the_serve_docs_name_the_serve_extra() -> None:
    assert 'pip install "modelmesh[serve]"' in (ROOT / "docs" / "serve.md").read_text()
    assert 'pip install "modelmesh[serve]"' in (ROOT / "README.md").read_text()


def test_license_is_the_mit_license_the_metadata_declares() -> None:
    import tomllib

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "ModelMesh contributors" in text
