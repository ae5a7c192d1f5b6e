"""`ppcx users invite`: invite a person to the portal and print the one-time link (the first
admin of a new deployment is invited this way)."""

from __future__ import annotations

import typer

from ppcx.commands.common import console, fail, load_settings

users_app = typer.Typer(help="Portal users: invite people.", no_args_is_help=True)


@users_app.command("invite")
def invite(
    email: str = typer.Option(..., help="the person's e-mail address"),
    role: str = typer.Option(..., help="admin, finance, analyst, publisher or buyer"),
    owner: str | None = typer.Option(None, help="publisher or buyer staff: the pub_/buy_ id"),
) -> None:
    """Invite a user and print the one-time link that sets their password (valid 7 days)."""
    from api.keys import KeyHasher
    from domain.errors import DomainError
    from portal.invites import invite as invite_user
    from ppcx.bootstrap import build_domain
    from ppcx.secrets import secret_key

    settings = load_settings()
    base_url = settings.public_base_url or f"http://{settings.api_host}:{settings.api_port}"
    domain = build_domain(settings)
    try:
        user_id, link = invite_user(
            domain.users,
            KeyHasher(secret_key(settings)),
            email=email,
            role=role,
            owner_id=owner,
            by="cli",
            base_url=base_url,
        )
    except DomainError as error:
        raise fail(f"--{error.field or 'email'}: {error.message}", code=2) from None
    finally:
        domain.close()
    console.print(f"invited {email.strip().lower()} ({role}) as {user_id}")
    console.print("send them this one-time link (it works once, for 7 days):")
    print(link)
