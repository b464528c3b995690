"""`kb user add NAME`, `kb user list`, `kb user remove NAME`: researcher accounts."""

from __future__ import annotations

import sys

import click

from kb.errors import AccountError
from kb.factory import open_store
from kb.settings import Settings
from kb_cli.main import cli

# kb.users (werkzeug's hashing) is imported by the commands that use it, keeping `kb` quick.


@cli.group()
def user() -> None:
    """Researcher accounts (they log in to add and manage documents)."""


@user.command(name="add")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (for scripts).",
)
@click.pass_obj
def add_user(settings: Settings, name: str, password_stdin: bool) -> None:
    """Create an account; asks for the password twice, without showing it."""
    from kb.users import Users
    from kb.users import check_name
    from kb.users import check_password

    check_name(name)  # before asking for a password that would be thrown away
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = _ask_password()
    check_password(password)
    Users(open_store(settings, create=True)).add(name, password)
    click.echo(f"Added the account {name}.")


@user.command(name="list")
@click.pass_obj
def list_users(settings: Settings) -> None:
    """List the accounts and when they were created."""
    from kb.users import Users

    accounts = Users(open_store(settings, create=True)).list_users()
    if not accounts:
        click.echo("No accounts yet: create one with `kb user add NAME`.")
    for account in accounts:
        click.echo(f"{account.name:<32} created {account.created_at}")


@user.command(name="remove")
@click.argument("name")
@click.pass_obj
def remove_user(settings: Settings, name: str) -> None:
    """Delete an account and its logins (anyone logged in with it is logged out at once)."""
    from kb.users import Users

    Users(open_store(settings, create=True)).remove(name)
    click.echo(f"Removed the account {name}.")


def _ask_password() -> str:
    """Ask twice at the terminal; without one (a script), say how to give it instead."""
    import getpass
    import warnings

    with warnings.catch_warnings():
        # Without a terminal getpass warns that the password may be echoed; we say it instead.
        warnings.simplefilter("ignore", getpass.GetPassWarning)
        try:
            return click.prompt(
                "Password", hide_input=True, confirmation_prompt="Repeat the password"
            )
        except click.Abort:
            raise AccountError(
                "No password was given: type it at the prompt, or pipe it in with --password-stdin."
            ) from None
