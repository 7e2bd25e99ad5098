"""Secret references and masking.

The store never holds a secret: a credential profile holds a *reference* — ``env:VAR``,
``file:/path`` or ``keyring:service/user`` — resolved only in the process that needs it, at the
moment it needs it. Anything that prints a URL or a setting passes it through ``mask_url`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from noc.errors import SecretError

SecretScheme = Literal["env", "file", "keyring"]
_SCHEMES: tuple[SecretScheme, ...] = ("env", "file", "keyring")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class SecretRef:
    scheme: SecretScheme
    target: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"

    @classmethod
    def parse(cls, text: str) -> SecretRef:
        scheme, sep, target = text.partition(":")
        if not sep or scheme not in _SCHEMES or not target:
            raise SecretError(
                f"secret reference {text!r} must be env:VAR, file:/path or keyring:service/user"
            )
        if scheme == "env" and not _ENV_NAME.match(target):
            raise SecretError(f"secret reference {text!r}: {target!r} is not a variable name")
        if scheme == "keyring" and "/" not in target:
            raise SecretError(f"secret reference {text!r}: keyring needs service/user")
        return cls(scheme, target)

    def resolve(self, environ: Mapping[str, str] | None = None) -> str:
        if self.scheme == "env":
            env = os.environ if environ is None else environ
            if self.target not in env:
                raise SecretError(f"secret {self}: environment variable {self.target} is not set")
            return env[self.target]
        if self.scheme == "file":
            path = Path(self.target).expanduser()
            try:
                return path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise SecretError(f"secret {self}: cannot read {path}: {exc.strerror}") from None
        return _keyring_get(self)


def _keyring_get(ref: SecretRef) -> str:
    try:
        import keyring  # an optional dependency: only profiles that name it need it
        import keyring.errors
    except ImportError:
        raise SecretError(f"secret {ref}: install noc[keyring] to read the keyring") from None
    service, _, user = ref.target.partition("/")
    try:
        value = keyring.get_password(service, user)
    except keyring.errors.KeyringError as exc:
        raise SecretError(f"secret {ref}: keyring failed: {exc}") from None
    if value is None:
        raise SecretError(f"secret {ref}: no such entry in the keyring")
    return value


_SECRET_QUERY_KEYS = re.compile(r"(?i)(token|key|secret|password|passwd|sig|auth)")


def mask_url(url: str) -> str:
    """Hide the password, secret query values and opaque path tokens of a URL.

    Webhook URLs carry their secret in the path (Slack ``/services/T…/B…/xyz``, Teams
    ``/webhookb2/…``), so every path segment that looks like a token is masked too.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:****@{host}" if ":" in userinfo else f"{user}@{host}"
    segments = parts.path.split("/")
    if parts.scheme in ("http", "https"):
        segments = [
            "****" if len(seg) >= 16 or (len(seg) >= 8 and any(c.isdigit() for c in seg)) else seg
            for seg in segments
        ]
    query = "&".join(
        f"{k}=****" if _SECRET_QUERY_KEYS.search(k) else f"{k}={v}" if sep else k
        for k, sep, v in (item.partition("=") for item in parts.query.split("&") if item)
    )
    masked = (netloc, "/".join(segments), query)
    if masked == (parts.netloc, parts.path, parts.query):
        return url  # nothing secret: keep the exact spelling (sqlite:////abs/path)
    return urlunsplit((parts.scheme, *masked, parts.fragment))
