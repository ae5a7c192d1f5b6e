"""Where a caller is: US state, ZIP and area code; and a target's geo allow/deny rule."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

import phonenumbers

from domain.errors import ValidationError
from domain.limits import GEO_AREA_CODES_MAX, GEO_ENTRIES_MAX, GEO_STATES_MAX, GEO_ZIPS_MAX
from domain.screening import CallerLine, LineType, classify

# USPS codes of the states, DC and the territories, with the names the phonenumbers
# geocoder gives them (it describes a US number as "California" or as "Los Angeles, CA").
US_STATE_NAMES: Mapping[str, str] = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "Washington D.C.",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington State",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands",
    "GU": "Guam",
    "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
}
US_STATES = frozenset(US_STATE_NAMES)
_STATE_OF_NAME = {name: code for code, name in US_STATE_NAMES.items()}
# NANP regions (phonenumbers' region codes) that are US states' own: the 50 states and DC
# are region "US"; the territories have their own region code, which is their USPS code.
US_TERRITORIES = frozenset({"PR", "VI", "GU", "AS", "MP"})
NANP_COUNTRY_CODE = 1
NANP_AREA_CODE_DIGITS = 3
# Whole strings, ASCII digits: Python's \d matches any Unicode digit.
_E164_RE = re.compile(r"\+[1-9][0-9]{7,14}")
_ZIP_RE = re.compile(r"[0-9]{5}")
_AREA_CODE_RE = re.compile(r"[2-9][0-9]{2}")


class GeoMode(StrEnum):
    ALLOW = "allow"  # the caller must match a listed place (nothing listed: anyone)
    DENY = "deny"  # a caller matching a listed place is excluded


_GEO_MODES = frozenset(GeoMode)


# A ping's number is read three times (the request's field, the route's classification, the
# target's area-code rule): the latest parses are kept so it is parsed once. Nothing here
# mutates a parsed number, so sharing one is safe.
PARSED_NUMBERS_KEPT = 1024


@lru_cache(maxsize=PARSED_NUMBERS_KEPT)
def _phone_number(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None


def parse_e164(number: object, field: str = "number") -> str:
    """An E.164 phone number such as +13105550123, exactly as written (a "+" and ASCII
    digits, nothing to strip) and valid by the phonenumbers library (the number plan of its
    country: assigned area codes, lengths). North American 555 numbers such as
    +13105550123 are valid numbers to it, so they stay usable in tests and demos."""
    if not isinstance(number, str) or _E164_RE.fullmatch(number) is None:
        raise ValidationError(
            f"{field} must be an E.164 phone number such as +13105550123 (a + and digits)",
            field=field,
        )
    parsed = _phone_number(number)
    if (
        parsed is None
        or not phonenumbers.is_valid_number(parsed)
        or phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number
    ):
        raise ValidationError(f"{field} is not a valid phone number", field=field)
    return number


def check_caller(number: object, field: str = "number") -> str:
    """`parse_caller`'s check alone (a request model's field; the route classifies)."""
    _caller_parsed(number, field)
    return str(number)


def _caller_parsed(number: object, field: str) -> phonenumbers.PhoneNumber:
    if not isinstance(number, str) or _E164_RE.fullmatch(number) is None:
        raise ValidationError(
            f"{field} must be an E.164 phone number such as +13105550123 (a + and digits)",
            field=field,
        )
    parsed = _phone_number(number)
    if (
        parsed is None
        or phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != number
    ):
        raise ValidationError(f"{field} is not a phone number", field=field)
    return parsed


def parse_caller(number: object, field: str = "number") -> tuple[str, CallerLine]:
    """A caller's number: E.164 as written and parseable by the phonenumbers library, as
    `parse_e164` (a malformed one is a ValidationError), but not necessarily valid — a
    number that is not possible or not in the numbering plan is screened before the auction
    (`domain.screening`), not refused as input. → the number and its classification."""
    return str(number), classify(_caller_parsed(number, field))


def classify_number(e164: str) -> CallerLine:
    """The classification of a number taken as E.164 (`parse_caller`'s, for callers that
    did not keep it)."""
    parsed = _phone_number(e164)
    if parsed is None:
        return CallerLine(False, False, LineType.UNKNOWN, None)
    return classify(parsed)


def area_code_of(e164: str) -> str | None:
    """The area code (NPA) of a North American number, None for other countries' numbers
    (target rules list three-digit North American area codes)."""
    parsed = _phone_number(e164)
    if parsed is None or parsed.country_code != NANP_COUNTRY_CODE:
        return None
    return phonenumbers.national_significant_number(parsed)[:NANP_AREA_CODE_DIGITS]


def state_of(e164: str) -> str | None:
    """The US state (or DC, or territory) of a number, from the phonenumbers library's
    region and geocoder data; None when it is not a US number or the data names no state
    (toll-free and other non-geographic numbers)."""
    parsed = _phone_number(e164)
    if parsed is None:
        return None
    region = phonenumbers.region_code_for_number(parsed)
    if region in US_TERRITORIES:
        return str(region)
    if region != "US":
        return None
    # The geocoder loads its prefix tables (~0.5 s) on first use, not when we are imported.
    from phonenumbers import geocoder  # noqa: PLC0415

    place = geocoder.description_for_number(parsed, "en")
    state = place.rsplit(", ", 1)[1] if ", " in place else _STATE_OF_NAME.get(place)
    return state if state in US_STATES else None


def parse_state(state: object, field: str = "state") -> str:
    """A USPS state code as written ("CA"; "ca" and " CA" are refused, not normalised)."""
    if not isinstance(state, str) or state not in US_STATES:
        raise ValidationError(
            f"{field} must be a two-letter US state code in capitals, such as CA", field=field
        )
    return state


def parse_zip(zip_code: object, field: str = "zip") -> str:
    """Five ASCII digits; a ZIP+4 is refused rather than cut."""
    if not isinstance(zip_code, str) or _ZIP_RE.fullmatch(zip_code) is None:
        raise ValidationError(f"{field} must be a 5-digit ZIP code", field=field)
    return zip_code


def parse_area_code(code: object, field: str = "area_code") -> str:
    if not isinstance(code, str) or _AREA_CODE_RE.fullmatch(code) is None:
        raise ValidationError(f"{field} must be a 3-digit area code", field=field)
    return code


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
        """Validated geo, each part as given (None: not given; "" is refused). The state
        and the area code are derived from the number (an E.164 number, already parsed)
        when not given; a given one is kept, even if the number says otherwise."""
        return cls(
            state=parse_state(state)
            if state is not None
            else (state_of(number) if number else None),
            zip=parse_zip(zip_code) if zip_code is not None else None,
            area_code=parse_area_code(area_code)
            if area_code is not None
            else (area_code_of(number) if number else None),
        )

    def to_dict(self) -> dict[str, str | None]:
        return {"state": self.state, "zip": self.zip, "area_code": self.area_code}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Geo:
        return cls(data.get("state"), data.get("zip"), data.get("area_code"))


_GEO_LISTED_MAX = {"states": GEO_STATES_MAX, "zips": GEO_ZIPS_MAX, "area_codes": GEO_AREA_CODES_MAX}


def _listed(values: Iterable[object], name: str) -> list[object]:
    """One of a geo rule's lists, within its bound."""
    listed = list(values)
    if len(listed) > _GEO_LISTED_MAX[name]:
        raise ValidationError(
            f"geo.{name} lists at most {_GEO_LISTED_MAX[name]} entries", field=f"geo.{name}"
        )
    return listed


@dataclass(frozen=True, slots=True)
class GeoRule:
    """`allow`: the caller must match a listed state, ZIP or area code (nothing listed: anyone).
    `deny`: a caller matching any listed state, ZIP or area code is excluded."""

    mode: GeoMode = GeoMode.ALLOW
    states: frozenset[str] = frozenset()
    zips: frozenset[str] = frozenset()
    area_codes: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls,
        mode: object = GeoMode.ALLOW,
        states: Iterable[object] = (),
        zips: Iterable[object] = (),
        area_codes: Iterable[object] = (),
    ) -> GeoRule:
        if not isinstance(mode, str) or mode not in _GEO_MODES:
            raise ValidationError("geo mode must be 'allow' or 'deny'", field="geo.mode")
        rule = cls(
            mode=GeoMode(mode),
            states=frozenset(parse_state(s, "geo.states") for s in _listed(states, "states")),
            zips=frozenset(parse_zip(z, "geo.zips") for z in _listed(zips, "zips")),
            area_codes=frozenset(
                parse_area_code(a, "geo.area_codes") for a in _listed(area_codes, "area_codes")
            ),
        )
        if len(rule.states) + len(rule.zips) + len(rule.area_codes) > GEO_ENTRIES_MAX:
            raise ValidationError(f"at most {GEO_ENTRIES_MAX} geo entries", field="geo")
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
        return matched if self.mode == GeoMode.ALLOW else not matched

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
            mode=GeoMode(data.get("mode", GeoMode.ALLOW)),
            states=frozenset(data.get("states", ())),
            zips=frozenset(data.get("zips", ())),
            area_codes=frozenset(data.get("area_codes", ())),
        )
