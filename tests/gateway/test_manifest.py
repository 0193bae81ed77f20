"""The deploy manifest and bundle checks: good shapes pass, each bad shape is named."""

from __future__ import annotations

import base64
import inspect
import io
import zipfile
from typing import Any

import pytest
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.schema import decode_bundle, parse_manifest, signature_of


def _manifest(**overrides: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": "shop",
        "module": "shop_app",
        "app_variable": "app",
        "functions": [
            {
                "name": "checkout",
                "is_async": True,
                "params": [
                    {"name": "cart", "kind": "POSITIONAL_OR_KEYWORD"},
                    {"name": "coupon", "kind": "KEYWORD_ONLY", "has_default": True},
                ],
                "options": {"timeout_s": 30, "max_containers": None, "gpu": ["T4"]},
            }
        ],
    }
    return {**manifest, **overrides}


def _function(**fields: Any) -> dict[str, Any]:
    return _manifest(functions=[{"name": "checkout", **fields}])


def _zip(files: dict[str, str]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_good_manifest_is_parsed_with_defaults_filled_in() -> None:
    manifest = parse_manifest(_manifest())

    assert (manifest.name, manifest.module, manifest.app_variable) == ("shop", "shop_app", "app")
    assert manifest.ephemeral is False
    [function] = manifest.functions
    assert function["name"] == "checkout"
    assert function["is_async"] is True
    assert function["is_generator"] is False
    assert function["options"] == {"timeout_s": 30, "max_containers": None, "gpu": ["T4"]}


def test_function_without_params_or_options_gets_empty_ones() -> None:
    [function] = parse_manifest(_manifest(functions=[{"name": "ping"}])).functions

    assert function["params"] == []
    assert function["options"] == {}


def test_app_name_of_64_characters_is_accepted() -> None:
    assert parse_manifest(_manifest(name="a" * 64)).name == "a" * 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        (_manifest(name=None), "bad app name None"),
        (_manifest(name="my shop"), "bad app name 'my shop'"),
        (_manifest(name="a" * 65), "use up to 64 letters"),
        (_manifest(name="-shop"), "bad app name '-shop'"),
        (_manifest(functions={"checkout": {}}), "must list its functions"),
        (_manifest(module="shop-app"), "module must be a Python identifier, not 'shop-app'"),
        (_manifest(app_variable=None), "app_variable must be a Python identifier"),
        (_manifest(functions=["checkout"]), "each function in the manifest must be an object"),
        (_manifest(functions=[{"name": "9lives"}]), "bad function name '9lives'"),
        (_manifest(functions=[{}]), "bad function name None"),
        (_manifest(functions=[{"name": "a"}, {"name": "a"}]), "names in an app must be unique"),
        (_function(params={}), "params of function 'checkout' must be a list"),
        (_function(options=[]), "options of function 'checkout' must be an object"),
        (_function(options={"keep_warm": 1}), "unknown option 'keep_warm'"),
        (_function(options={"timeout_s": "30"}), "option 'timeout_s' of function 'checkout'"),
        (_function(options={"retries": True}), "has a bad value True"),
        (_function(params=[{"name": "x", "kind": "SIDEWAYS"}]), "invalid parameter list"),
    ],
)
def test_bad_manifest_is_refused_naming_the_problem(data: object, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_manifest(data)

    assert message in caught.value.message


@pytest.mark.parametrize(
    "data", [_manifest(name="shop\n"), _manifest(functions=[{"name": "checkout\n"}])]
)
def test_name_with_trailing_newline_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        parse_manifest(data)


def test_signature_is_rebuilt_with_kinds_and_defaults() -> None:
    signature = signature_of(
        [
            {"name": "a", "kind": "POSITIONAL_ONLY"},
            {"name": "b", "kind": "POSITIONAL_OR_KEYWORD", "has_default": True},
            {"name": "rest", "kind": "VAR_POSITIONAL"},
            {"name": "c", "kind": "KEYWORD_ONLY"},
            {"name": "options", "kind": "VAR_KEYWORD"},
        ]
    )

    assert str(signature) == "(a, /, b=Ellipsis, *rest, c, **options)"
    assert signature.parameters["b"].default is ...
    assert signature.parameters["c"].default is inspect.Parameter.empty


@pytest.mark.parametrize(
    "params",
    [
        [{"name": "a"}],
        ["a"],
        [None],
        [{"name": "a", "kind": "KEYWORD_ONLY"}, {"name": "a", "kind": "KEYWORD_ONLY"}],
        [
            {"name": "a", "kind": "POSITIONAL_OR_KEYWORD", "has_default": True},
            {"name": "b", "kind": "POSITIONAL_OR_KEYWORD"},
        ],
        [{"name": "1x", "kind": "POSITIONAL_OR_KEYWORD"}],
    ],
)
def test_parameters_that_form_no_python_signature_are_refused(params: list[Any]) -> None:
    with pytest.raises(InvalidRequest, match="invalid parameter list"):
        signature_of(params)


def test_bundle_holding_the_module_file_is_returned_as_zip_bytes() -> None:
    encoded = _zip({"shop_app.py": "app = None\n"})

    data = decode_bundle(encoded, "shop_app")

    assert data == base64.b64decode(encoded)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["shop_app.py"]


def test_bundle_holding_the_module_as_a_package_is_accepted() -> None:
    decode_bundle(_zip({"shop_app/__init__.py": ""}), "shop_app")


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        (None, "bundle must be a base64 string"),
        ("not base64!", "not a base64-encoded zip file"),
        (base64.b64encode(b"plain text").decode(), "not a base64-encoded zip file"),
        (_zip({"other.py": ""}), "does not contain module 'shop_app'"),
    ],
)
def test_bad_bundle_is_refused_naming_the_problem(encoded: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        decode_bundle(encoded, "shop_app")


def test_bundle_with_non_ascii_text_is_refused_as_invalid() -> None:
    with pytest.raises(InvalidRequest):
        decode_bundle("bündle", "shop_app")


@pytest.mark.parametrize(
    "options",
    [
        {"max_containers": 0},
        {"scaledown_window_s": 1},
        {"timeout_s": 0},
        {"min_containers": -1},
        {"min_containers": 3, "max_containers": 2},
    ],
)
def test_option_out_of_range_is_refused(options: dict[str, object]) -> None:
    manifest = {
        "name": "app",
        "module": "app",
        "app_variable": "app",
        "functions": [{"name": "f", "params": [], "options": options}],
    }
    with pytest.raises(InvalidRequest, match=r"max_containers|between"):
        parse_manifest(manifest)
