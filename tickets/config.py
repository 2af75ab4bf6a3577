"""Ticket categories, departments and the working calendar, from data/handoff/tickets.yml (or the
file CS_TICKETS_FILE names). Validated when read: a mistake names the file and the key at fault."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional

import yaml

from tickets.calendar import WEEKDAYS, Due, WorkCalendar

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class TicketConfigError(ValueError):
    """The tickets file is malformed (the message names the file and the key)."""


@dataclass(frozen=True)
class Department:
    name: str
    skill: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class Category:
    name: str
    department: str
    due: Due
    labels: Mapping[str, str]

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels.get("en") or self.name


@dataclass(frozen=True)
class TicketConfig:
    calendar: WorkCalendar
    departments: Mapping[str, Department]
    categories: Mapping[str, Category]
    close_resolved_after_seconds: float = 7 * 86400.0

    def category(self, name: str) -> Category:
        if name not in self.categories:
            raise ValueError(f"unknown category {name!r}; categories: {', '.join(self.categories)}")
        return self.categories[name]

    def skill_of(self, department: str) -> Optional[str]:
        found = self.departments.get(department)
        return found.skill if found else None

    def as_dict(self) -> dict:
        """What the console needs to offer the choices."""
        return {"categories": [{"name": c.name, "department": c.department, "labels": dict(c.labels),
                                "due": {"amount": c.due.amount, "unit": c.due.unit,
                                        "zh": c.due.describe("zh"), "en": c.due.describe("en")}}
                               for c in self.categories.values()],
                "departments": [{"name": d.name, "skill": d.skill, "labels": dict(d.labels)}
                                for d in self.departments.values()]}


def _labels(where: str, raw: Mapping) -> Dict[str, str]:
    labels = {lang: raw.get(lang) for lang in ("zh", "en")}
    for lang, value in labels.items():
        if not isinstance(value, str) or not value.strip():
            raise TicketConfigError(f"{where}: needs a '{lang}' label")
    return {k: v.strip() for k, v in labels.items()}


def _calendar(where: str, raw: Mapping, utc_offset_minutes: int) -> WorkCalendar:
    m = _HOURS.match(str(raw.get("hours", "09:00-18:00")))
    if not m:
        raise TicketConfigError(f"{where}.hours: expected HH:MM-HH:MM, e.g. 09:00-18:00")
    h1, m1, h2, m2 = map(int, m.groups())
    if m1 > 59 or m2 > 59:
        raise TicketConfigError(f"{where}.hours: minutes go from 00 to 59")
    days = raw.get("days", list(WEEKDAYS[:5]))
    if not isinstance(days, list) or not days or any(str(d).lower()[:3] not in WEEKDAYS for d in days):
        raise TicketConfigError(f"{where}.days: a list of {', '.join(WEEKDAYS)}")
    holidays = raw.get("holidays") or []
    parsed = set()
    for value in holidays if isinstance(holidays, list) else [None]:
        if isinstance(value, dt.date):
            parsed.add(value)
            continue
        try:
            parsed.add(dt.date.fromisoformat(str(value)))
        except ValueError:
            raise TicketConfigError(f"{where}.holidays: dates as YYYY-MM-DD (got {value!r})") from None
    try:
        return WorkCalendar(open_minute=h1 * 60 + m1, close_minute=h2 * 60 + m2,
                            weekdays=frozenset(WEEKDAYS.index(str(d).lower()[:3]) for d in days),
                            holidays=frozenset(parsed), utc_offset_minutes=utc_offset_minutes)
    except ValueError as exc:
        raise TicketConfigError(f"{where}: {exc}") from None


def _due(where: str, raw) -> Due:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise TicketConfigError(f"{where}.due: one of {{working_days: N}}, {{working_hours: N}}, {{hours: N}}")
    (unit, amount), = raw.items()
    try:
        return Due(float(amount), str(unit))
    except (TypeError, ValueError) as exc:
        raise TicketConfigError(f"{where}.due: {exc}") from None


def parse(raw: object, source: str = "tickets", utc_offset_minutes: int = 8 * 60,
          known_skills: Optional[set] = None) -> TicketConfig:
    if not isinstance(raw, Mapping):
        raise TicketConfigError(f"{source}: expected a mapping with calendar, departments and categories")
    calendar_raw = raw.get("calendar") or {}
    if not isinstance(calendar_raw, Mapping):
        raise TicketConfigError(f"{source}: calendar must be a mapping")
    calendar = _calendar(f"{source}: calendar", calendar_raw, utc_offset_minutes)
    close_days = calendar_raw.get("close_resolved_after_days", 7)
    if not isinstance(close_days, (int, float)) or not 0 < close_days <= 365:
        raise TicketConfigError(f"{source}: calendar.close_resolved_after_days: days between 1 and 365")
    departments: Dict[str, Department] = {}
    for key in ("departments", "categories"):
        if not isinstance(raw.get(key) or {}, Mapping):
            raise TicketConfigError(f"{source}: {key} must be a mapping of names to entries")
    for name, entry in (raw.get("departments") or {}).items():
        where = f"{source}: departments.{name}"
        if not isinstance(entry, Mapping):
            raise TicketConfigError(f"{where}: a mapping with skill, zh and en")
        skill = entry.get("skill")
        if not isinstance(skill, str) or (known_skills is not None and skill not in known_skills):
            raise TicketConfigError(f"{where}.skill: one of the agents' skills"
                                    + (f" ({', '.join(sorted(known_skills))})" if known_skills else ""))
        departments[str(name)] = Department(str(name), skill, _labels(where, entry))
    categories: Dict[str, Category] = {}
    for name, entry in (raw.get("categories") or {}).items():
        where = f"{source}: categories.{name}"
        if not isinstance(entry, Mapping):
            raise TicketConfigError(f"{where}: a mapping with department, due, zh and en")
        department = entry.get("department")
        if department not in departments:
            raise TicketConfigError(f"{where}.department: one of {', '.join(departments) or '(none defined)'}")
        categories[str(name)] = Category(str(name), department, _due(where, entry.get("due")),
                                         _labels(where, entry))
    if not categories:
        raise TicketConfigError(f"{source}: define at least one category")
    return TicketConfig(calendar, departments, categories, float(close_days) * 86400)


def load(path: Path, utc_offset_minutes: int = 8 * 60, known_skills: Optional[set] = None) -> TicketConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise TicketConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise TicketConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise TicketConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse(raw, str(path), utc_offset_minutes, known_skills)
