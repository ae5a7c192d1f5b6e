"""Where a caller is: US state, ZIP and area code; and a target's geo allow/deny rule."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from domain.errors import ValidationError

US_STATES = frozenset(
    {
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "VI",
        "GU",
        "AS",
        "MP",
    }
)
_E164_RE = re.compile(r"^\+[1-9]\d{7,14}$")
_NANP_RE = re.compile(r"^\+1([2-9]\d{2})[2-9]\d{6}$")
_ZIP_RE = re.compile(r"^\d{5}$")
_AREA_CODE_RE = re.compile(r"^[2-9]\d{2}$")
GeoMode = Literal["allow", "deny"]
MAX_GEO_ENTRIES = 50_000


def parse_e164(number: object, field: str = "number") -> str:
    """An E.164 phone number such as +13105550123."""
    if not isinstance(number, str):
        raise ValidationError(
            f"{field} must be an E.164 phone number such as +13105550123", field=field
        )
    compact = re.sub(r"[\s\-().]", "", number)
    if not _E164_RE.match(compact):
        raise ValidationError(
            f"{field} must be an E.164 phone number such as +13105550123", field=field
        )
    if compact.startswith("+1") and not _NANP_RE.match(compact):
        raise ValidationError(f"{field} is not a valid North American number", field=field)
    return compact


def area_code_of(e164: str) -> str | None:
    match = _NANP_RE.match(e164)
    return match.group(1) if match else None


def parse_state(state: object, field: str = "state") -> str:
    if not isinstance(state, str) or state.strip().upper() not in US_STATES:
        raise ValidationError(f"{field} must be a two-letter US state code such as CA", field=field)
    return state.strip().upper()


def parse_zip(zip_code: object, field: str = "zip") -> str:
    if not isinstance(zip_code, str) or not _ZIP_RE.match(zip_code.strip()[:5]):
        raise ValidationError(f"{field} must be a 5-digit ZIP code", field=field)
    return zip_code.strip()[:5]


def parse_area_code(code: object, field: str = "area_code") -> str:
    if not isinstance(code, str) or not _AREA_CODE_RE.match(code.strip()):
        raise ValidationError(f"{field} must be a 3-digit area code", field=field)
    return code.strip()


@dataclass(frozen=True, slots=True)
class Geo:
    """A caller's location as far as it is known."""

    state: str | None = None
    zip: str | None = None
    area_code: str | None = None

    @classmethod
    def of_caller(
        cls, number: str | None, state: str | None, zip_code: str | None, area_code: str | None
    ) -> Geo:
        """Validated geo; the area code is derived from the number when not given."""
        return cls(
            state=parse_state(state) if state else None,
            zip=parse_zip(zip_code) if zip_code else None,
            area_code=parse_area_code(area_code)
            if area_code
            else (area_code_of(number) if number else None),
        )

    def to_dict(self) -> dict[str, str | None]:
        return {"state": self.state, "zip": self.zip, "area_code": self.area_code}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Geo:
        return cls(data.get("state"), data.get("zip"), data.get("area_code"))


@dataclass(frozen=True, slots=True)
class GeoRule:
    """`allow`: the caller must match a listed state, ZIP or area code (nothing listed: anyone).
    `deny`: a caller matching any listed state, ZIP or area code is excluded."""

    mode: GeoMode = "allow"
    states: frozenset[str] = frozenset()
    zips: frozenset[str] = frozenset()
    area_codes: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls,
        mode: object = "allow",
        states: Iterable[object] = (),
        zips: Iterable[object] = (),
        area_codes: Iterable[object] = (),
    ) -> GeoRule:
        if mode not in ("allow", "deny"):
            raise ValidationError("geo mode must be 'allow' or 'deny'", field="geo.mode")
        rule = cls(
            mode=mode,
            states=frozenset(parse_state(s, "geo.states") for s in states),
            zips=frozenset(parse_zip(z, "geo.zips") for z in zips),
            area_codes=frozenset(parse_area_code(a, "geo.area_codes") for a in area_codes),
        )
        if len(rule.states) + len(rule.zips) + len(rule.area_codes) > MAX_GEO_ENTRIES:
            raise ValidationError(f"at most {MAX_GEO_ENTRIES} geo entries", field="geo")
        return rule

    @property
    def is_open(self) -> bool:
        return not (self.states or self.zips or self.area_codes)

    def _matches_any(self, geo: Geo) -> bool:
        return (
            (geo.state is not None and geo.state in self.states)
            or (geo.zip is not None and geo.zip in self.zips)
            or (geo.area_code is not None and geo.area_code in self.area_codes)
        )

    def admits(self, geo: Geo) -> bool:
        if self.is_open:
            return True
        matched = self._matches_any(geo)
        return matched if self.mode == "allow" else not matched

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "states": sorted(self.states),
            "zips": sorted(self.zips),
            "area_codes": sorted(self.area_codes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeoRule:
        return cls(
            mode=data.get("mode", "allow"),
            states=frozenset(data.get("states", ())),
            zips=frozenset(data.get("zips", ())),
            area_codes=frozenset(data.get("area_codes", ())),
        )
