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
    assert {"modelmesh/catalog/providers.yaml", "modelmesh/catalog/models.yaml"} <= names
    assert not any(name.startswith("tests/") for name in names)


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
