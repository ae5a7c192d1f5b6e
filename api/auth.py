"""Who is calling: an API key with one role and, for publishers and buyers, one owner.

Unknown, revoked or expired key: 401. Known key, wrong role: 403. Another tenant's object: 404 (the
routers check ownership and answer as if it did not exist)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.keys import key_id_of
from api.problems import Problem
from api.services import ApiServices, KnownKey
from domain.api_key import OWNED_ROLES, ApiKey, Role, is_expired
from domain.errors import NotFound
from domain.invariant import present

# Declares the bearer scheme in the OpenAPI document (`bearer`) and reads the header; a
# missing or other scheme is None here and 401 below, as a problem document.
bearer = HTTPBearer(
    scheme_name="bearer", auto_error=False, description="`Authorization: Bearer <api key>`"
)
UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="ppcx"'}


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    owner_id: str | None

    @property
    def by(self) -> str:
        """What configuration events record as the author."""
        return self.key_id


def services_of(request: Request) -> ApiServices:
    found: ApiServices = request.app.state.services
    return found


async def services(request: Request) -> ApiServices:
    """The dependency (async: FastAPI runs a plain-def dependency on its thread pool, a
    thread hop on every request for a dictionary lookup)."""
    return services_of(request)


async def authenticate(token: str | None, s: ApiServices) -> Principal:
    if not token:
        raise Problem(
            401, "an API key is required (Authorization: Bearer <key>)", headers=UNAUTHORIZED
        )
    bootstrap = s.config.bootstrap_admin_key
    if bootstrap and hmac.compare_digest(token.encode(), bootstrap.encode()):
        return Principal("bootstrap", Role.ADMIN, None)
    key_id = key_id_of(token)
    key = await _stored_key(key_id, s) if key_id else None
    if (
        key is None
        or key.revoked
        or is_expired(key.expires_at, s.clock.now())
        or not s.keys.matches(token, key.key_hash)
    ):
        raise Problem(401, "the API key is unknown, revoked or expired", headers=UNAUTHORIZED)
    found_id = present(key_id, "a stored key was found by its id")
    await s.key_usage.touch(found_id)
    return Principal(found_id, Role(key.role), key.owner_id)


async def _stored_key(key_id: str, s: ApiServices) -> KnownKey | None:
    known = s.known_keys.get(key_id)
    if known is not None:
        return known
    stored = await s.call(s.app.find, ApiKey, key_id)
    if stored is None:
        return None  # not cached: a key issued by another worker works at once
    known = KnownKey(
        stored.role, stored.owner_id, stored.key_hash, stored.revoked, stored.expires_at
    )
    s.known_keys.put(key_id, known)
    return known


async def principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
) -> Principal:
    token = credentials.credentials.strip() if credentials is not None else None
    return await authenticate(token, services_of(request))


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only the given roles (admin is always admitted)."""
    allowed = {Role.ADMIN, *roles}

    async def check(who: Principal = Depends(principal)) -> Principal:
        if who.role not in allowed:
            raise Problem(
                403,
                f"a {who.role} key cannot do this; it needs one of: {', '.join(sorted(allowed))}",
            )
        return who

    return check


def owned(who: Principal, owner_id: str | None, field: str) -> None:
    """Tenancy: a publisher or buyer key sees only its own objects; another's is NotFound
    in the same words as an unknown id (`field` names the path's id, e.g. buyer_id)."""
    if who.role in OWNED_ROLES and who.owner_id != owner_id:
        raise NotFound(f"{field} {owner_id!r} does not exist", field=field)
