"""The names the gateway answers to, and the URLs it hands out: built from what the operator
configured (`--public-url`, `--domain`), never from a request's `Host`. Pure values.

Which host names may be granted to a workspace as custom domains follows from the same
configuration: never one of the gateway's own.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

#: A lower-case DNS name of at least two labels (what `custom_domains=` accepts).
DOMAIN_NAME = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


def hostname(host_and_port: str) -> str:
    """`host` of `host[:port]` (an IPv6 literal keeps its brackets), lower-cased."""
    host = host_and_port.lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_address(host: str) -> bool:
    """Whether `host` is an IP literal (`127.0.0.1`, `[::1]`)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class PublicAddress:
    """Where callers reach the gateway: its API at `base_url`, its endpoints under `domain`."""

    #: `scheme://host[:port]` of the API, without a trailing slash.
    base_url: str
    #: `host[:port]` that endpoint hosts hang under (`{label}.{domain}`).
    domain: str

    @classmethod
    def of(cls, public_url: str, domain: str) -> PublicAddress:
        return cls(public_url.rstrip("/"), domain.lower())

    @property
    def scheme(self) -> str:
        return urlsplit(self.base_url).scheme

    @property
    def api_host(self) -> str:
        return hostname(urlsplit(self.base_url).netloc)

    @property
    def domain_host(self) -> str:
        return hostname(self.domain)

    def endpoint_url(self, label: str) -> str:
        """The subdomain form of an endpoint's URL."""
        return f"{self.scheme}://{label}.{self.domain}"

    def path_form_url(self, label: str) -> str:
        """The path form, for clients that cannot resolve wildcard subdomains."""
        return f"{self.base_url}/web/{label}/"

    def is_own(self, host: str) -> bool:
        """Whether `host` is one of the gateway's own names: its API host, its endpoints' domain
        or any name under it, `localhost` or a name under it, or an IP literal."""
        if host in (self.api_host, self.domain_host, "localhost") or is_address(host):
            return True
        return host.endswith((f".{self.domain_host}", ".localhost"))

    def grant_refusal(self, host: str) -> str | None:
        """Why `host` can never be a workspace's custom domain; None if it can."""
        if not DOMAIN_NAME.fullmatch(host):
            return f"{host!r} is not a lower-case DNS name like api.example.com"
        if self.is_own(host):
            return f"{host} is one of the gateway's own names"
        return None
