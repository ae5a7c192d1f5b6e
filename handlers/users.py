"""Portal users: invite, accept an invite (set the password), sign out everywhere. The edge
hashes tokens and passwords; these handlers decide and record."""

from __future__ import annotations

import hmac
from datetime import timedelta

from domain.base import PPCXAggregate
from domain.buyer import Buyer
from domain.catalog import topic_of
from domain.commands import DisableUser, InviteUser, SetPassword, SignOutEverywhere
from domain.errors import Conflict, NotFound
from domain.limits import INVITE_VALID_DAYS, USERS_LISTED_MAX
from domain.publisher import Publisher
from domain.user import User, user_id_for
from handlers.unit_of_work import HandlerContext


class UserHandlers:
    def __init__(self, ctx: HandlerContext) -> None:
        self.ctx = ctx
        self.app = ctx.app

    def find(self, user_id: str) -> User | None:
        return self.app.find(User, user_id)

    def listed(self) -> list[User]:
        """Every user, newest invite first (from the log's `Invited` events: users are few;
        at most `USERS_LISTED_MAX`)."""
        store = self.app.store
        rows = store.read_topics(
            1, USERS_LISTED_MAX, stop=store.head(), topics=[topic_of(User.Invited)]
        )
        found = (self.app.find(User, user_id) for _, user_id, _, _, _ in reversed(rows))
        return [user for user in found if user is not None]

    def invite(self, cmd: InviteUser) -> str:
        """A new user with an open invite; an address that already has an account (invited
        or signed up) is a Conflict."""
        user_id = user_id_for(cmd.email)

        def change() -> tuple[list[PPCXAggregate], str]:
            at = self.ctx.now()
            if cmd.role == "publisher":
                self.app.load(Publisher, cmd.owner_id, "owner_id")
            elif cmd.role == "buyer":
                self.app.load(Buyer, cmd.owner_id, "owner_id")
            if self.app.find(User, user_id) is not None:
                raise Conflict(f"{cmd.email} already has an account", field="email")
            user = User(
                id=user_id,
                email=cmd.email,
                role=cmd.role,
                owner_id=cmd.owner_id,
                invite_hash=cmd.invite_hash,
                invite_expires_at=at + timedelta(days=INVITE_VALID_DAYS),
                by=cmd.by,
                timestamp=at,
            )
            return [user], user_id

        return self.ctx.run(change)

    def set_password(self, cmd: SetPassword) -> User:
        """Use up an open invite. An unknown, used or expired invite is NotFound, in the same
        words whichever it was."""

        def change() -> tuple[list[PPCXAggregate], User]:
            at = self.ctx.now()
            user = self.app.find(User, cmd.user_id)
            if (
                user is None
                or not user.invite_open_at(at)
                or not hmac.compare_digest(user.invite_hash or "", cmd.invite_hash)
            ):
                raise NotFound("this invite link is unknown, used or expired", field="invite")
            user.set_password(password_hash=cmd.password_hash, by=cmd.user_id, timestamp=at)
            return [user], user

        return self.ctx.run(change)

    def sign_out_everywhere(self, cmd: SignOutEverywhere) -> User:
        def change() -> tuple[list[PPCXAggregate], User]:
            user = self.app.load(User, cmd.user_id, "user_id")
            user.sign_out_everywhere(by=cmd.by, timestamp=self.ctx.now())
            return [user], user

        return self.ctx.run(change)

    def disable(self, cmd: DisableUser) -> User:
        """The user can no longer sign in and every session ends; disabling one already
        disabled changes nothing. No one disables their own account (a Conflict)."""

        def change() -> tuple[list[PPCXAggregate], User]:
            user = self.app.load(User, cmd.user_id, "user_id")
            if cmd.by == user.id:
                raise Conflict("you cannot disable your own account", field="user_id")
            if user.disabled:
                return [], user
            user.disable(by=cmd.by, timestamp=self.ctx.now())
            return [user], user

        return self.ctx.run(change)
