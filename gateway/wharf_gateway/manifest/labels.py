"""Endpoint host labels: `{workspace}--{label}`, one RFC 1035 DNS label (docs/web-endpoints.md)."""

from __future__ import annotations

import hashlib
import re

from wharf_gateway.errors import InvalidRequest

#: The longest DNS label (RFC 1035).
MAX_LABEL_CHARS = 63
#: Longer labels keep this many characters, then `-` and a hash.
TRUNCATED_PREFIX_CHARS = 56
HASH_CHARS = 6
DEV_SUFFIX = "-dev"

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
_NOT_LABEL_CHARS = re.compile(r"[^a-z0-9-]+")


def slug(text: str) -> str:
    """Lower-case, with every run of characters a label cannot hold turned into one `-`."""
    return _NOT_LABEL_CHARS.sub("-", text.lower()).strip("-")


def check_label(label: str) -> str:
    """An explicit `label=` must already be a valid label.

    Raises:
        InvalidRequest: the label has characters or a shape RFC 1035 does not allow.
    """
    if not _LABEL.fullmatch(label) or len(label) > MAX_LABEL_CHARS:
        raise InvalidRequest(
            f"label {label!r} must be lower-case letters, digits and '-', start and end with a "
            f"letter or digit, and be at most {MAX_LABEL_CHARS} characters"
        )
    return label


def host_label(
    workspace: str, app_name: str, function_name: str, label: str | None, *, dev: bool
) -> str:
    """The endpoint's host label; long ones are cut to 56 characters, `-` and 6 hex of SHA-256."""
    base = check_label(label) if label is not None else slug(f"{app_name}-{function_name}")
    full = f"{slug(workspace)}--{base}{DEV_SUFFIX if dev else ''}"
    if len(full) <= MAX_LABEL_CHARS:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:HASH_CHARS]
    return f"{full[:TRUNCATED_PREFIX_CHARS].rstrip('-')}-{digest}"
