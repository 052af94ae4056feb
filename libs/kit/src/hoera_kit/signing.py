"""How a contact-centre platform's events are bound to the tenants it may publish for.

Any producer that can write the platform topics could otherwise act for any tenant by writing its
name into the event. So the platform signs every record it publishes with an Ed25519 key, in the
`hoera-signature` header (`kid=<key id>;ed25519=<base64url signature of the record value>`), and a
tenant's definition (hoera_events.organisation.TenantDefined) lists the public keys of the platforms
that may publish for it. A consumer accepts a platform event only when one of the event's own
tenant's keys verifies the signature over the exact bytes it read; anything else is poison. The
tenant is inside the signed value, so a signed event cannot be moved to another tenant.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hoera_events.organisation import PlatformKey

from hoera_kit.retry import PoisonError
from hoera_kit.settings import KitSettings

HEADER = "hoera-signature"
RELAY_KID = "hoera-relay"
RELAY_PREVIOUS_KID = "hoera-relay-previous"
"""The key id of the service that relays a platform's HTTP call as a platform event (intake): every tenant
intake defines lists its public key beside the platforms'."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_of(private: Ed25519PrivateKey) -> str:
    """The base64url raw public key, as a TenantDefined lists it."""
    return _b64(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def signature_header(value: bytes, private: Ed25519PrivateKey, kid: str) -> tuple[str, bytes]:
    """The header a platform adds to a record whose value is `value`."""
    return HEADER, f"kid={kid};ed25519={_b64(private.sign(value))}".encode()


def _parse(header: bytes) -> tuple[str, bytes]:
    fields = dict(part.split("=", 1) for part in header.decode("ascii").split(";") if "=" in part)
    return fields["kid"], _unb64(fields["ed25519"])


def verify(
    value: bytes, headers: Sequence[tuple[str, bytes]], keys: Iterable[PlatformKey], tenant: str
) -> str:
    """The kid that verified the record, or PoisonError saying why it is not the tenant's."""
    found = [v for k, v in headers if k == HEADER]
    if not found:
        raise PoisonError(f"a platform event for tenant {tenant} without a {HEADER} header")
    try:
        kid, signature = _parse(found[-1])
    except (ValueError, KeyError, UnicodeDecodeError):
        raise PoisonError(f"a malformed {HEADER} header") from None
    key = next((k for k in keys if k.kid == kid), None)
    if key is None:
        raise PoisonError(f"key {kid!r} may not publish for tenant {tenant}")
    try:
        Ed25519PublicKey.from_public_bytes(_unb64(key.public_key)).verify(signature, value)
    except (InvalidSignature, ValueError):
        raise PoisonError(f"the signature does not verify with tenant {tenant}'s key {kid!r}") from None
    return kid


def private_key(encoded: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from its 32 raw bytes, base64url."""
    return Ed25519PrivateKey.from_private_bytes(_unb64(encoded.strip()))


def relay_key(settings: KitSettings) -> Ed25519PrivateKey:
    """The relay's signing key: HOERA_RELAY_SIGNING_KEY, or in development and test a fixed one."""
    if settings.relay_signing_key is not None:
        return private_key(settings.relay_signing_key.get_secret_value())
    if not settings.is_dev:
        raise RuntimeError("HOERA_RELAY_SIGNING_KEY is required outside development and test")
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"hoera development relay").digest())


def relay_platform_keys(settings: KitSettings) -> list[PlatformKey]:
    """The relay's public keys as a tenant's definition lists them: the current one and, during a
    rotation, the previous one (events it signed are still accepted)."""
    keys = [PlatformKey(kid=RELAY_KID, public_key=public_key_of(relay_key(settings)))]
    if settings.relay_signing_key_previous is not None:
        previous = private_key(settings.relay_signing_key_previous.get_secret_value())
        keys.append(PlatformKey(kid=RELAY_PREVIOUS_KID, public_key=public_key_of(previous)))
    return keys


def signer(key: Ed25519PrivateKey, kid: str) -> Callable[[bytes], tuple[str, bytes]]:
    return lambda value: signature_header(value, key, kid)
