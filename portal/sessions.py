"""Session cookies and CSRF tokens.

A session cookie is signed (itsdangerous, keyed by the deployment's secret) and holds a random
session id, and once signed in the user's id and session epoch; it carries no secret of the
user's. Every visitor has one (the sign-in form needs a CSRF token too); signing in issues a
new session id (no fixation). A CSRF token is an HMAC of the session id: a form posted from
another site has no way to know it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from domain.limits import SESSION_HOURS

COOKIE = "ppcx_session"
SESSION_S = SESSION_HOURS * 3600


@dataclass(frozen=True)
class Session:
    sid: str
    user_id: str | None = None
    epoch: int = 0

    @staticmethod
    def anonymous() -> Session:
        return Session(secrets.token_urlsafe(24))

    def signed_in(self, user_id: str, epoch: int) -> Session:
        return Session(secrets.token_urlsafe(24), user_id, epoch)


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="ppcx-portal-session")
        self._csrf_key = hashlib.sha256(b"ppcx-portal-csrf\x00" + secret.encode()).digest()

    def dumps(self, session: Session) -> str:
        return self._serializer.dumps([session.sid, session.user_id, session.epoch])

    def loads(self, cookie: str | None) -> Session | None:
        """The session a cookie names, or None when it is missing, forged or too old."""
        if not cookie:
            return None
        try:
            sid, user_id, epoch = self._serializer.loads(cookie, max_age=SESSION_S)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(sid, str) or not isinstance(epoch, int):
            return None
        return Session(sid, user_id if isinstance(user_id, str) else None, epoch)

    def csrf(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_matches(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf(session), token or "")
