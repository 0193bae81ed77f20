"""Secrets at rest: sealing, the key file, value checks, and the service over a real SQLite file."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from wharf_gateway.errors import ConfigError, Conflict, InvalidRequest, NotFound, SecretUnreadable
from wharf_gateway.manifest.definition import FunctionDefinition
from wharf_gateway.models import FunctionRecord
from wharf_gateway.security.secrets import (
    KEY_BYTES,
    MAX_SECRET_BYTES,
    MAX_SECRETS_PER_FUNCTION,
    SecretBox,
    SecretService,
    check_references,
    check_secret_name,
    check_values,
    load_key,
)
from wharf_gateway.storage.database import Database
from wharf_gateway.storage.store import Store

VALUE = "hunter2-do-not-leak"


def _box() -> SecretBox:
    return SecretBox(os.urandom(KEY_BYTES))


def test_sealed_values_open_again_and_hold_no_plaintext() -> None:
    box = _box()
    sealed = box.seal({"PASSWORD": VALUE, "USER": "ada"}, "ws-1/db")

    assert VALUE.encode() not in sealed
    assert b"ada" not in sealed
    assert box.unseal(sealed, "ws-1/db") == {"PASSWORD": VALUE, "USER": "ada"}
    # A fresh nonce each time: sealing the same values twice gives different bytes.
    assert box.seal({"PASSWORD": VALUE}, "ws-1/db") != box.seal({"PASSWORD": VALUE}, "ws-1/db")


def test_a_tampered_blob_another_context_or_another_key_does_not_open() -> None:
    box = _box()
    sealed = box.seal({"PASSWORD": VALUE}, "ws-1/db")
    flipped = bytearray(sealed)
    flipped[-1] ^= 1

    for blob, context in [
        (bytes(flipped), "ws-1/db"),
        (sealed, "ws-2/db"),
        (sealed, "ws-1/other"),
        (sealed[:10], "ws-1/db"),
        (b"\x02" + sealed[1:], "ws-1/db"),
    ]:
        with pytest.raises(ValueError, match=r"does not open|known format"):
            box.unseal(blob, context)
    with pytest.raises(ValueError, match="does not open"):
        _box().unseal(sealed, "ws-1/db")


def test_the_key_file_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secrets.key"

    key = load_key(path)

    assert len(key) == KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == key
    assert [p.name for p in path.parent.iterdir()] == ["secrets.key"]


def test_a_key_file_others_can_read_or_of_the_wrong_size_stops_the_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "secrets.key"
    load_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"WHARF_SECRETS_KEY_FILE.*chmod 600"):
        load_key(path)
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="32 bytes"):
        load_key(path)


def test_bad_names_and_values_are_refused_without_echoing_values() -> None:
    assert check_secret_name("my-secret.v2") == "my-secret.v2"
    for name in ["", "-x", "a" * 65, "@inline", "a/b", 7]:
        with pytest.raises(InvalidRequest, match="bad secret name"):
            check_secret_name(name)
    bad_values: list[object] = [
        {},
        [],
        {"1ABC": VALUE},
        {"A-B": VALUE},
        {"WHARF_TOKEN_ID": VALUE},
        {"runner_port": VALUE},
        {"KEY": 1},
        {"KEY": f"{VALUE}\0"},
        {"KEY": "x" * MAX_SECRET_BYTES},
        {f"K{i}": "" for i in range(300)},
    ]
    for values in bad_values:
        with pytest.raises(InvalidRequest) as caught:
            check_values(values, "secret 'db'")
        assert VALUE not in str(caught.value)
    assert check_values({"KEY": VALUE, "_other": ""}, "x") == {"KEY": VALUE, "_other": ""}


def test_function_references_are_names_or_inline_values() -> None:
    checked = check_references(
        [{"name": "db", "required_keys": ["URL"]}, {"values": {"A": "b"}}], "f"
    )
    assert checked == [{"name": "db", "required_keys": ["URL"]}, {"values": {"A": "b"}}]
    assert check_references(None, "f") == []
    for references in [
        "db",
        [{"name": "bad name"}],
        [{"name": "db", "required_keys": "URL"}],
        [{"values": {"A": 1}}],
        [{"name": "db"}] * (MAX_SECRETS_PER_FUNCTION + 1),
        ["db"],
    ]:
        with pytest.raises(InvalidRequest):
            check_references(references, "f")


def test_inline_names_depend_on_values_workspace_and_key() -> None:
    box = _box()
    name = box.inline_name("ws-1", {"A": "1", "B": "2"})
    assert name.startswith("@")
    assert box.inline_name("ws-1", {"B": "2", "A": "1"}) == name
    assert box.inline_name("ws-2", {"A": "1", "B": "2"}) != name
    assert box.inline_name("ws-1", {"A": "1", "B": "3"}) != name
    assert _box().inline_name("ws-1", {"A": "1", "B": "2"}) != name


@asynccontextmanager
async def _service(path: Path, key: bytes) -> AsyncIterator[tuple[Store, SecretService]]:
    database = await Database.open(path)
    try:
        store = Store(database)
        yield store, SecretService(store, SecretBox(key))
    finally:
        await database.close()


def _function(workspace_id: str, secrets: list[str]) -> FunctionRecord:
    definition = FunctionDefinition("f", secrets=tuple(secrets))
    return FunctionRecord(
        "fu-1", "ap-1", "app", workspace_id, 1, "f", "0" * 64, "m", "app", definition
    )


def _named(name: str, *required: str) -> dict[str, object]:
    return {"name": name, "required_keys": list(required)}


def test_secrets_are_created_replaced_and_listed_within_their_workspace(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _service(tmp_path / "wharf.db", os.urandom(KEY_BYTES)) as (store, service):
            main, other = await store.create_workspace("main"), await store.create_workspace("b")
            record, created = await service.create(main, "db", {"URL": VALUE}, overwrite=False)
            assert created
            assert record.keys == ("URL",)
            with pytest.raises(Conflict, match="already exists"):
                await service.create(main, "db", {"URL": "x"}, overwrite=False)
            values = {"URL": VALUE, "USER": "u"}
            _, created = await service.create(main, "db", values, overwrite=True)
            assert not created
            listed = [record.to_json() for record in await service.of_workspace(main)]
            assert [(r["name"], r["keys"]) for r in listed] == [("db", ["URL", "USER"])]
            assert VALUE not in str(listed)
            assert await service.of_workspace(other) == []
            with pytest.raises(NotFound):
                await service.get(other, "db")
            with pytest.raises(NotFound):
                await service.delete(other, "db")
            assert (await service.get(main, "db")).keys == ("URL", "USER")

    asyncio.run(scenario())


def test_functions_get_the_values_of_named_and_inline_secrets(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _service(tmp_path / "wharf.db", os.urandom(KEY_BYTES)) as (store, service):
            main, other = await store.create_workspace("main"), await store.create_workspace("b")
            await service.create(main, "db", {"URL": VALUE, "USER": "u"}, overwrite=False)
            functions: list[dict[str, Any]] = [
                {"name": "f", "secrets": [_named("db", "URL"), {"values": {"URL": "x"}}]}
            ]
            await service.resolve(main, functions)
            names: list[str] = functions[0]["secrets"]
            assert names[0] == "db"
            assert names[1].startswith("@")
            # Later secrets win where keys repeat.
            assert await service.environment(_function(main, names)) == {"URL": "x", "USER": "u"}
            # Inline secrets are not listed, shown or deleted by name.
            assert [record.name for record in await service.of_workspace(main)] == ["db"]
            with pytest.raises(NotFound):
                await service.get(main, names[1])
            with pytest.raises(NotFound):
                await service.delete(main, names[1])
            with pytest.raises(NotFound, match="uses secret 'db', which does not exist"):
                await service.resolve(other, [{"name": "f", "secrets": [_named("db")]}])
            with pytest.raises(InvalidRequest, match="requires: TOKEN"):
                await service.resolve(main, [{"name": "f", "secrets": [_named("db", "TOKEN")]}])
            # Another workspace's function cannot use the secret by its name.
            with pytest.raises(NotFound, match="was deleted"):
                await service.environment(_function(other, ["db"]))

    asyncio.run(scenario())


def test_a_deleted_secret_or_another_key_refuses_the_container_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with _service(tmp_path / "wharf.db", os.urandom(KEY_BYTES)) as (store, service):
            main = await store.create_workspace("main")
            await service.create(main, "db", {"URL": VALUE}, overwrite=False)
            functions: list[dict[str, Any]] = [
                {"name": "f", "secrets": [_named("db"), {"values": {"A": "b"}}]}
            ]
            await service.resolve(main, functions)
            names: list[str] = functions[0]["secrets"]
            await service.delete(main, "db")
            with pytest.raises(
                NotFound, match=r"secret 'db', which function 'f' uses, was deleted"
            ):
                await service.environment(_function(main, names))
        async with _service(tmp_path / "wharf.db", os.urandom(KEY_BYTES)) as (_, service):
            with pytest.raises(SecretUnreadable, match="cannot be decrypted"):
                await service.environment(_function(main, names[1:]))

    asyncio.run(scenario())
