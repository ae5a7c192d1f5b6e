"""Invite links: `/invite?token=<token>` (in the query, which access logs leave out), the
token `inv_<user hex>_<secret>`. Its user part finds the
account without an index; only a keyed hash of the whole token is stored (as for API keys)."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

from api.keys import KeyHasher
from domain.user import normal_email, user_id_for
from handlers import parse
from handlers.users import UserHandlers

PREFIX = "inv"
PATH = "/invite?token="


def new_token(user_id: str) -> str:
    return f"{PREFIX}_{user_id.split('_', 1)[1]}_{secrets.token_urlsafe(24)}"


def user_of(token: str) -> str | None:
    """The user id a token names, or None when it is not an invite token."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 32:
        return None
    if any(c not in "0123456789abcdef" for c in parts[1]):
        return None
    return f"usr_{parts[1]}"


def token_hash(keys: KeyHasher, token: str) -> str:
    return keys.hash(token)


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATH}{token}"


def invite(
    users: UserHandlers,
    keys: KeyHasher,
    *,
    email: object,
    role: object,
    owner_id: object,
    by: str,
    base_url: str,
) -> tuple[str, str]:
    """Invite a user → (user id, the one-time link). The admins' page and `ppcx users invite`
    both call this; only the token's keyed hash is stored."""
    address = normal_email(email)
    token = new_token(user_id_for(address))
    command = parse.invite_user(
        email=address,
        role=role,
        owner_id=owner_id,
        invite_hash=token_hash(keys, token),
        by=by,
    )
    return users.invite(command), link(base_url, token)


def token_in(invite_link: str) -> str:
    """The token of an invite link (the demo and the benchmarks accept their own invites)."""
    return parse_qs(urlsplit(invite_link).query).get("token", [""])[0]
