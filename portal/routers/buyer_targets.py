"""Buyer pages: targets — the list, and an editor for the rules a buyer changes (bid, pause and
resume, schedule in the buyer's time zone, geo, caps, budget, destination). The editor posts
through the API's own PATCH route function: the same checks, the same messages, the same
event naming its author (the signed-in user)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError as ShapeError

from api.auth import services_of
from api.models_changes import TargetPatch
from api.routers import buyers as api_buyers
from api.routers import setup_changes, setup_reads
from domain.api_key import Role
from domain.buyer import Buyer
from domain.errors import DomainError, NotFound
from domain.schedule import DAYS
from portal.forms import field_errors
from portal.pages import PageNotFound, Visitor, posted, redirect, render, signed_in

router = APIRouter(include_in_schema=False)
buyer = signed_in(Role.BUYER)
CAP_FIELDS = ("concurrency", "hourly", "daily", "monthly")
DAY_NAMES = dict(
    zip(
        DAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
_INTERVAL = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s*$")
_WHOLE = re.compile(r"^-?[0-9]+$")
# the fields the editor shows next to their inputs; an error of any other goes above the form
EDITOR_FIELDS = (
    "name",
    "destination",
    "bid",
    "buffer_s",
    "priority",
    "weight",
    "geo.mode",
    "geo.states",
    "geo.zips",
    "geo.area_codes",
    "schedule.time_zone",
    "schedule.hours",
    *(f"caps.{k}" for k in (*CAP_FIELDS, "daily_budget")),
    *(f"schedule.hours.{d}" for d in DAYS),
)


@router.get("/buyer/targets")
async def targets(request: Request, v: Visitor = Depends(buyer)) -> Response:
    s = services_of(request)
    page = await setup_reads.list_targets(
        campaign_id=None,
        buyer_id=None,
        status=None,
        limit=1000,
        cursor=None,
        who=v.principal,
        s=s,
    )
    return render(request, v, "buyer/targets.html", {"targets": page["items"]})


async def _target(request: Request, v: Visitor, target_id: str) -> dict[str, Any]:
    try:
        return await setup_reads.get_target(target_id, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None


async def _time_zone(request: Request, v: Visitor) -> str:
    s = services_of(request)
    found = await s.call(s.app.find, Buyer, v.principal.owner_id or "")
    return found.time_zone if found is not None else "UTC"


def _hours_text(schedule: dict[str, Any] | None) -> dict[str, str]:
    hours = (schedule or {}).get("hours", {})
    return {day: ", ".join(f"{a}-{b}" for a, b in hours.get(day, [])) for day in DAYS}


def _editor(target: dict[str, Any], buyer_tz: str) -> dict[str, Any]:
    """The editor's inputs as text, from the target's current values."""
    geo = target.get("geo") or {}
    caps = target.get("caps") or {}
    schedule = target.get("schedule")
    return {
        "name": target["name"],
        "destination": target["destination"],
        "bid": target.get("bid") or "",
        "buffer_s": target["buffer_s"],
        "priority": target["priority"],
        "weight": target["weight"],
        "requires_consent": "on" if target.get("requires_consent") else "",
        "whisper": target.get("whisper") or "",
        **{
            f"caps.{k}": "" if caps.get(k) is None else caps[k]
            for k in (*CAP_FIELDS, "daily_budget")
        },
        "geo.mode": geo.get("mode", "allow"),
        "geo.states": ", ".join(geo.get("states", [])),
        "geo.zips": ", ".join(geo.get("zips", [])),
        "geo.area_codes": ", ".join(geo.get("area_codes", [])),
        "schedule.always": "on" if schedule is None else "",
        "schedule.time_zone": (schedule or {}).get("time_zone", buyer_tz),
        **{f"schedule.hours.{d}": text for d, text in _hours_text(schedule).items()},
    }


def _number(text: str) -> int | str:
    """A whole number from a form's text (left as text otherwise, for the API's message)."""
    return int(text) if _WHOLE.fullmatch(text.strip()) else text


def _listed(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text.strip()) if part]


def _patch(form: dict[str, str], rtb: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The PATCH body the editor's form means, and errors of the form's own syntax."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {
        "name": form.get("name", ""),
        "destination": form.get("destination", ""),
        "buffer_s": _number(form.get("buffer_s", "")),
        "priority": _number(form.get("priority", "")),
        "weight": _number(form.get("weight", "")),
        "requires_consent": bool(form.get("requires_consent")),
        "whisper": form.get("whisper", ""),  # "" removes it
    }
    if not rtb:  # a real-time bidder's price comes from its endpoint, not the editor
        body["bid"] = form.get("bid", "")
    caps: dict[str, Any] = {
        k: _number(form[f"caps.{k}"]) if form.get(f"caps.{k}", "").strip() else None
        for k in CAP_FIELDS
    }
    budget = form.get("caps.daily_budget", "").strip()
    caps["daily_budget"] = budget or None
    body["caps"] = caps
    body["geo"] = {
        "mode": form.get("geo.mode", "allow"),
        "states": [s.upper() for s in _listed(form.get("geo.states", ""))],
        "zips": _listed(form.get("geo.zips", "")),
        "area_codes": _listed(form.get("geo.area_codes", "")),
    }
    hours: dict[str, list[list[str]]] = {}
    if not form.get("schedule.always"):
        for day in DAYS:
            text = form.get(f"schedule.hours.{day}", "").strip()
            for part in filter(None, (p.strip() for p in text.split(","))):
                match = _INTERVAL.fullmatch(part)
                if match is None:
                    errors[f"schedule.hours.{day}"] = (
                        'write opening hours as "08:00-18:00" (several: comma between)'
                    )
                    break
                hours.setdefault(day, []).append([match.group(1).zfill(5), match.group(2).zfill(5)])
        if not hours and not errors:
            errors["schedule.hours"] = 'no opening hours: give some, or tick "always open"'
    body["schedule"] = {"time_zone": form.get("schedule.time_zone", "").strip(), "hours": hours}
    return body, errors


@router.get("/buyer/targets/{target_id}")
async def edit_target(request: Request, target_id: str, v: Visitor = Depends(buyer)) -> Response:
    target = await _target(request, v, target_id)
    context = {
        "target": target,
        "form": _editor(target, await _time_zone(request, v)),
        "days": DAY_NAMES,
        "shown": EDITOR_FIELDS,
        "errors": {},
        "saved": request.query_params.get("saved") == "1",
    }
    return render(request, v, "buyer/target.html", context)


@router.post("/buyer/targets/{target_id}")
async def save_target(request: Request, target_id: str, v: Visitor = Depends(buyer)) -> Response:
    form = {k: str(val) for k, val in (await posted(request, v)).items()}
    target = await _target(request, v, target_id)
    body, errors = _patch(form, rtb=target.get("rtb_url") is not None)
    if not errors:
        try:
            patch = TargetPatch.model_validate(body)
            await setup_changes.change_target(
                target_id, patch, who=v.principal, s=services_of(request)
            )
            return redirect(f"/buyer/targets/{target_id}?saved=1")
        except NotFound:
            raise PageNotFound() from None
        except (DomainError, ShapeError) as error:
            errors = field_errors(error)
    context = {
        "target": target,
        "form": form,
        "days": DAY_NAMES,
        "shown": EDITOR_FIELDS,
        "errors": errors,
        "saved": False,
    }
    return render(request, v, "buyer/target.html", context, status_code=422)


@router.post("/buyer/targets/{target_id}/pause")
async def pause(request: Request, target_id: str, v: Visitor = Depends(buyer)) -> Response:
    await posted(request, v)
    try:
        await api_buyers.pause(target_id, None, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    return redirect(f"/buyer/targets/{target_id}?saved=1")


@router.post("/buyer/targets/{target_id}/resume")
async def resume(request: Request, target_id: str, v: Visitor = Depends(buyer)) -> Response:
    await posted(request, v)
    try:
        await api_buyers.resume(target_id, who=v.principal, s=services_of(request))
    except NotFound:
        raise PageNotFound() from None
    return redirect(f"/buyer/targets/{target_id}?saved=1")
