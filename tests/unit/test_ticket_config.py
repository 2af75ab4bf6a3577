"""tickets/config.py: the shipped data/handoff/tickets.yml loads; every malformed file is refused with
TicketConfigError naming the file and the key at fault (never a KeyError, AttributeError or a plain
ValueError from deep inside)."""
from __future__ import annotations

import copy
import os
from datetime import date

import pytest
import yaml

from common.settings import ROOT, Settings
from handoff import routing
from tickets.calendar import Due
from tickets.config import TicketConfig, TicketConfigError, load, parse

SHIPPED = ROOT / "data" / "handoff" / "tickets.yml"
SKILLS = {q.skill for q in routing.DEFAULT_QUEUES.values()}


def shipped_raw() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def test_the_shipped_file_loads_with_the_agents_skills():
    assert Settings().tickets_path == SHIPPED
    config = load(SHIPPED, 8 * 60, SKILLS)
    assert isinstance(config, TicketConfig)
    cal = config.calendar
    assert (cal.open_minute, cal.close_minute, cal.weekdays, cal.holidays, cal.utc_offset_minutes) == (
        9 * 60, 18 * 60, frozenset(range(5)), frozenset(), 480)
    assert config.close_resolved_after_seconds == 7 * 86400
    assert set(config.departments) == {"technical", "complaints", "logistics", "after_sales", "general"}
    assert {d.name: d.skill for d in config.departments.values()} == {
        "technical": "general", "complaints": "complaints", "logistics": "orders", "after_sales": "after_sales",
        "general": "general"}
    assert list(config.categories) == ["technical", "complaint", "logistics", "after_sales", "billing", "other"]
    assert config.category("complaint").due == Due(4, "working_hours")
    assert config.category("technical").due == Due(2, "working_days")
    assert config.category("logistics").department == "logistics"
    assert config.skill_of("logistics") == "orders" and config.skill_of("nowhere") is None
    for category in config.categories.values():  # every category in both languages, in a known department
        assert category.department in config.departments
        assert category.labels["zh"] and category.labels["en"]
    assert config.category("billing").label("zh") == "支付与发票"
    assert config.category("billing").label("en") == "Payment and invoice"
    assert config.category("billing").label("fr") == "Payment and invoice"  # other languages: English


def test_unknown_category_names_the_known_ones():
    config = load(SHIPPED, 480, SKILLS)
    with pytest.raises(ValueError, match="unknown category 'nope'.*technical, complaint"):
        config.category("nope")


def test_as_dict_offers_the_console_its_choices():
    offered = load(SHIPPED, 480, SKILLS).as_dict()
    complaint = next(c for c in offered["categories"] if c["name"] == "complaint")
    assert complaint == {"name": "complaint", "department": "complaints", "labels": {"zh": "投诉", "en": "Complaint"},
                         "due": {"amount": 4.0, "unit": "working_hours", "zh": "4 个工作小时",
                                 "en": "4 working hours"}}
    assert {d["name"] for d in offered["departments"]} == {"technical", "complaints", "logistics", "after_sales",
                                                           "general"}


def test_the_shop_time_zone_is_the_calendars():
    assert load(SHIPPED, -300, SKILLS).calendar.utc_offset_minutes == -300


def test_holidays_as_yaml_dates_or_quoted_strings_and_days_by_longer_names(tmp_path):
    path = tmp_path / "t.yml"
    path.write_text(SHIPPED.read_text(encoding="utf-8").replace(
        "holidays: []", 'holidays: [2026-10-01, "2026-10-02"]').replace(
        "days: [mon, tue, wed, thu, fri]", "days: [Monday, Tuesday, sat]").replace(
        '"09:00-18:00"', '"08:30 - 17:45"'), encoding="utf-8")
    cal = load(path, 480, SKILLS).calendar
    assert cal.holidays == frozenset({date(2026, 10, 1), date(2026, 10, 2)})
    assert cal.weekdays == frozenset({0, 1, 5})
    assert (cal.open_minute, cal.close_minute) == (8 * 60 + 30, 17 * 60 + 45)


def test_defaults_when_the_calendar_is_left_out():
    raw = shipped_raw()
    del raw["calendar"]
    config = parse(raw, "t.yml", 480, SKILLS)
    assert (config.calendar.open_minute, config.calendar.close_minute) == (540, 1080)
    assert config.calendar.weekdays == frozenset(range(5))
    assert config.close_resolved_after_seconds == 7 * 86400


def test_without_known_skills_any_skill_name_is_taken():
    raw = shipped_raw()
    raw["departments"]["general"]["skill"] = "billing_desk"
    assert parse(raw).skill_of("general") == "billing_desk"


def _set(raw: dict, path: str, value) -> None:
    """raw[a][b][c] = value for "a.b.c"; value DELETE removes the key."""
    keys = path.split(".")
    for key in keys[:-1]:
        raw = raw[key]
    if value is DELETE:
        del raw[keys[-1]]
    else:
        raw[keys[-1]] = value


DELETE = object()

MALFORMED = [
    # (what, key path, new value, words the message must contain)
    ("hours not HH:MM-HH:MM", "calendar.hours", "9 to 6", "calendar.hours"),
    ("hours without minutes", "calendar.hours", "9-18", "calendar.hours"),
    ("hours as a number", "calendar.hours", 9, "calendar.hours"),
    ("hours closing before opening", "calendar.hours", "18:00-09:00", "calendar: working hours"),
    ("hours past midnight", "calendar.hours", "09:00-25:00", "calendar: working hours"),
    ("minutes over 59", "calendar.hours", "09:75-18:00", "calendar.hours"),
    ("minutes over 59 at closing", "calendar.hours", "09:00-17:60", "calendar.hours"),
    ("unknown weekday", "calendar.days", ["mon", "funday"], "calendar.days"),
    ("weekday not a list", "calendar.days", "mon-fri", "calendar.days"),
    ("no weekdays", "calendar.days", [], "calendar.days"),
    ("bad holiday date", "calendar.holidays", ["2026-13-01"], "calendar.holidays"),
    ("holiday not a date", "calendar.holidays", ["national day"], "calendar.holidays"),
    ("holidays not a list", "calendar.holidays", "2026-10-01", "calendar.holidays"),
    ("close after 0 days", "calendar.close_resolved_after_days", 0, "close_resolved_after_days"),
    ("close after a word", "calendar.close_resolved_after_days", "a week", "close_resolved_after_days"),
    ("calendar not a mapping", "calendar", ["09:00-18:00"], "calendar must be a mapping"),
    ("category with unknown department", "categories.technical.department", "it", "categories.technical.department"),
    ("category without department", "categories.technical.department", DELETE, "categories.technical.department"),
    ("unknown skill", "departments.logistics.skill", "shipping", "departments.logistics.skill"),
    ("department without skill", "departments.logistics.skill", DELETE, "departments.logistics.skill"),
    ("department missing zh label", "departments.general.zh", DELETE, "departments.general: needs a 'zh' label"),
    ("department empty en label", "departments.general.en", "  ", "departments.general: needs a 'en' label"),
    ("category missing zh label", "categories.billing.zh", DELETE, "categories.billing: needs a 'zh' label"),
    ("category label not text", "categories.billing.zh", 7, "categories.billing: needs a 'zh' label"),
    ("bad due unit", "categories.other.due", {"weeks": 1}, "categories.other.due: due unit 'weeks'"),
    ("due amount zero", "categories.other.due", {"working_days": 0}, "categories.other.due"),
    ("due amount negative", "categories.other.due", {"working_hours": -4}, "categories.other.due"),
    ("due amount a word", "categories.other.due", {"working_days": "two"}, "categories.other.due"),
    ("due amount infinite", "categories.other.due", {"working_days": float("inf")}, "categories.other.due"),
    ("due amount missing", "categories.other.due", {"working_days": None}, "categories.other.due"),
    ("due with two units", "categories.other.due", {"working_days": 1, "hours": 2}, "categories.other.due"),
    ("due not a mapping", "categories.other.due", 3, "categories.other.due"),
    ("no due", "categories.other.due", DELETE, "categories.other.due"),
    ("department not a mapping", "departments.general", "general", "departments.general"),
    ("category not a mapping", "categories.other", "general", "categories.other"),
    ("departments not a mapping", "departments", ["general"], "departments"),
    ("categories not a mapping", "categories", ["other"], "categories"),
    ("no categories", "categories", {}, "at least one category"),
]


@pytest.mark.parametrize("what, path, value, words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_file_is_refused_naming_the_key(tmp_path, what, path, value, words):
    raw = copy.deepcopy(shipped_raw())
    _set(raw, path, value)
    file = tmp_path / "tickets.yml"
    file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(TicketConfigError) as caught:
        load(file, 480, SKILLS)
    message = str(caught.value)
    assert message.startswith(f"{file}: "), message  # the file first
    assert words in message, message


@pytest.mark.parametrize("raw", [None, [], "tickets", 3])
def test_not_a_mapping_at_all(tmp_path, raw):
    file = tmp_path / "tickets.yml"
    file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(TicketConfigError, match="expected a mapping with calendar, departments and categories"):
        load(file)


def test_unreadable_or_invalid_files(tmp_path):
    with pytest.raises(TicketConfigError, match=r"missing\.yml: cannot read \(No such file or directory\)"):
        load(tmp_path / "missing.yml")
    with pytest.raises(TicketConfigError, match="cannot read"):
        load(tmp_path)  # a directory
    broken = tmp_path / "broken.yml"
    broken.write_text("categories: {technical: [unclosed\n", encoding="utf-8")
    with pytest.raises(TicketConfigError, match="broken.yml: not valid YAML"):
        load(broken)
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"\xff\xfe\x00categories")
    with pytest.raises(TicketConfigError, match="binary.yml"):
        load(binary)
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.yml"
        locked.write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
        locked.chmod(0)
        with pytest.raises(TicketConfigError, match="cannot read"):
            load(locked)


def test_the_service_refuses_to_start_on_a_bad_file(tmp_path):
    """The handoff service reads the file when its app is built: a mistake is a ConfigError naming it."""
    from common.settings import ConfigError
    from handoff.app import build_app

    bad = tmp_path / "tickets.yml"
    bad.write_text("categories: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="tickets.*at least one category"):
        build_app(Settings(var_dir=tmp_path / "var", tickets_file=str(bad)))
