"""customers/rfm.py: scores, segments and the VIP flag on a fixture with known answers
(tests/rfm_fixture.py), thresholds from configuration, and the rule table."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from common.settings import ConfigError, Settings
from customers.rfm import (
    SEGMENT_RULES,
    SEGMENTS,
    Purchase,
    RfmConfig,
    parse_thresholds,
    rfm,
    rfm_of_orders,
    segment_of,
    spent_band,
)
from tests.rfm_fixture import CASES, NOW, orders_of


@pytest.mark.parametrize("customer, tier, orders, scores, segment, vip", CASES, ids=[c[0] for c in CASES])
def test_fixture_customer_gets_the_known_answer(customer, tier, orders, scores, segment, vip):
    result = rfm_of_orders(orders_of(customer, orders), NOW, RfmConfig(), tier=tier)
    assert (result.recency, result.frequency, result.monetary) == scores
    assert result.segment == segment
    assert result.vip is vip
    assert result.tier == ("vip" if vip else "normal")


def test_fixture_covers_every_segment_and_both_vip_reasons():
    assert {c[4] for c in CASES} == set(SEGMENTS)
    assert len(CASES) >= 15
    assert any(c[5] and c[1] == "normal" for c in CASES) and any(c[5] and c[1] == "vip" for c in CASES)


def test_fixture_facts_days_purchases_spent():
    by_id = {c[0]: c for c in CASES}
    w01 = rfm_of_orders(orders_of("W01", by_id["W01"][2]), NOW)
    assert (w01.days_since_last, w01.purchases, w01.spent, w01.code) == (10, 3, 30000, "R5F3M2")
    p01 = rfm_of_orders([], NOW)
    assert (p01.days_since_last, p01.purchases, p01.spent, p01.code) == (None, 0, 0, "R0F0M0")


def test_scores_do_not_depend_on_other_customers():
    """Thresholds, not quantiles: a customer's answer is the same alone or among the whole fixture."""
    alone = rfm_of_orders(orders_of("T01", CASES[11][2]), NOW)
    for case in CASES:
        rfm_of_orders(orders_of(case[0], case[2]), NOW)
    assert rfm_of_orders(orders_of("T01", CASES[11][2]), NOW) == alone


def test_configured_thresholds_change_the_answer():
    bought = [Purchase(NOW - timedelta(days=40), 50000)]  # one order of 500 yuan, 40 days ago
    assert rfm(bought, NOW).code == "R4F1M2"
    strict = RfmConfig(recency_days=(50, 90, 180, 365), monetary_yuan=(100, 200, 300, 400))
    assert rfm(bought, NOW, strict).code == "R5F1M5"


def test_vip_amount_zero_means_only_the_record_decides():
    core_big = [Purchase(NOW - timedelta(days=d), 1_000_000) for d in range(1, 9)]  # 80000 yuan
    assert rfm(core_big, NOW).vip is True
    off = RfmConfig(vip_yuan=0)
    assert rfm(core_big, NOW, off).vip is False
    assert rfm(core_big, NOW, off, explicit_vip=True).vip is True


def test_rule_table_every_score_combination_has_one_documented_segment():
    """The first matching row of SEGMENT_RULES, checked against its own words for all 5x5x5 scores."""
    assert [name for name, _ in SEGMENT_RULES] == ["prospect", "core", "at_risk", "dormant", "new", "potential"]
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        expected = ("core" if r >= 4 and f >= 4 and m >= 4 else
                    "at_risk" if r <= 3 and (f >= 4 or m >= 4) else
                    "dormant" if r <= 2 else
                    "new" if r >= 4 and f == 1 else "potential")
        assert segment_of(r, f, m) == expected
    assert segment_of(0, 0, 0) == "prospect"


def test_spent_band():
    assert [spent_band(y * 100) for y in (0, 199, 200, 999, 1000, 9999, 10000, 99999)] == [
        "<200", "<200", "200-1000", "200-1000", "1000-3000", "3000-10000", ">=10000", ">=10000"]


@pytest.mark.parametrize("text", ["30,90,180", "30,90,90,365", "90,30,180,365", "0,1,2,3", "a,b,c,d", ""])
def test_bad_thresholds_are_refused(text):
    with pytest.raises(ValueError, match="CS_RFM_RECENCY_DAYS"):
        parse_thresholds("CS_RFM_RECENCY_DAYS", text)


def test_settings_validate_rfm_at_start():
    config = RfmConfig.from_settings(Settings.from_env({"CS_RFM_MONETARY_YUAN": "100,500,2000,8000",
                                                        "CS_RFM_VIP_YUAN": "0"}))
    assert config.monetary_yuan == (100, 500, 2000, 8000) and config.vip_yuan == 0
    assert RfmConfig.from_settings(Settings()) == RfmConfig()
    for env, says in (({"CS_RFM_RECENCY_DAYS": "30,20,10,5"}, "CS_RFM_RECENCY_DAYS"),
                      ({"CS_RFM_FREQUENCY_ORDERS": "2,3"}, "CS_RFM_FREQUENCY_ORDERS"),
                      ({"CS_RFM_WINDOW_DAYS": "0"}, "CS_RFM_WINDOW_DAYS"),
                      ({"CS_RFM_VIP_YUAN": "-1"}, "CS_RFM_VIP_YUAN"),
                      ({"CS_HANDOFF_RETURN_HOURS": "-1"}, "CS_HANDOFF_RETURN_HOURS")):
        with pytest.raises(ConfigError, match=says):
            Settings.from_env(env)
