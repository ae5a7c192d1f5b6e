"""`ppcx serve` runs the transcriber only when the settings turn it on (or `--role` names
it); the role's process is one, named after it."""

from __future__ import annotations

import pytest

from ppcx.roles import Role, ServePlan, default_roles, transcriber_role
from ppcx.settings import Settings

pytestmark = pytest.mark.unit


def test_the_transcriber_runs_only_when_turned_on() -> None:
    assert Role.TRANSCRIBER not in default_roles(Settings(transcriber=False))
    assert default_roles(Settings(transcriber=True)) == frozenset(Role) - {Role.SCORER}
    assert default_roles(Settings()) == frozenset(Role) - {Role.TRANSCRIBER, Role.SCORER}


def test_the_role_is_one_process() -> None:
    plan = ServePlan(Settings(), frozenset({Role.TRANSCRIBER}), "127.0.0.1", 0, 1)
    [spec] = plan.process_specs()
    assert spec.name == "transcriber"
    assert spec.target is transcriber_role
