"""handoff/routing.py: queue choice, service order, agent choice, assignment, position, waits, SLA, hours."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from handoff.routing import (
    DEFAULT_QUEUES,
    Agent,
    Assignment,
    BusinessHours,
    Queue,
    Waiting,
    assign,
    best_agent,
    estimated_wait,
    position,
    preferred_agent,
    route,
    service_order,
    sla_state,
)

SHOP_TZ = timezone(timedelta(hours=8))


def w(cid, queue="general", at=0.0):
    return Waiting(cid, queue, at)


def online(aid, *skills, capacity=3, active=0, idle_since=0.0):
    return Agent(aid, frozenset(skills), "online", capacity, active, idle_since)


def ids(items):
    return [i.conversation_id for i in items]


def ts(year, month, day, hour, minute=0, second=0, tz=SHOP_TZ):
    return datetime(year, month, day, hour, minute, second, tzinfo=tz).timestamp()


# --- route -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["complaint", "negative_sentiment", "escalation", "customer_request"])
def test_route_vip_tier_wins_over_everything(reason):
    assert route(reason, ["request_return", "ask_logistics"], tier="vip", order_task="aftersales") == "vip"


@pytest.mark.parametrize("reason", ["complaint", "negative_sentiment", "escalation"])
def test_route_complaint_reasons_go_to_complaints(reason):
    assert route(reason, ["request_return"], order_task="aftersales") == "complaints"
    assert route(reason) == "complaints"


def test_route_non_vip_tier_is_not_vip():
    assert route("customer_request", tier="gold") == "general"
    assert route("customer_request", tier="normal") == "general"


def test_route_order_task_aftersales():
    assert route("customer_request", ["ask_logistics"], order_task="aftersales") == "after_sales"


@pytest.mark.parametrize("task", ["status", "logistics", "cancel"])
def test_route_order_task_order_topics(task):
    assert route("customer_request", ["request_return"], order_task=task) == "orders"


def test_route_unknown_order_task_falls_back_to_intents():
    assert route("customer_request", ["request_return"], order_task="something_else") == "after_sales"
    assert route("customer_request", [], order_task="something_else") == "general"


def test_route_latest_order_intent_decides():
    assert route("customer_request", ["ask_logistics", "request_return"]) == "after_sales"
    assert route("customer_request", ["request_return", "ask_logistics"]) == "orders"


def test_route_ignores_unrelated_intents_after_the_latest_order_one():
    assert route("customer_request", ["greet", "request_return", "ask_order_status", "thanks", "bye"]) == "orders"
    assert route("customer_request", ["cancel_order", "request_return", "chitchat"]) == "after_sales"


@pytest.mark.parametrize("intent", ["ask_order_status", "ask_logistics", "cancel_order"])
def test_route_each_order_intent_goes_to_orders(intent):
    assert route("customer_request", [intent]) == "orders"


def test_route_accepts_any_iterable_sequence():
    assert route("customer_request", ("ask_logistics", "request_return")) == "after_sales"


def test_route_nothing_goes_to_general():
    assert route("customer_request") == "general"
    assert route("customer_request", ["greet", "faq_shipping"]) == "general"


def test_default_queue_names_cover_every_route():
    for queue in ("vip", "complaints", "after_sales", "orders", "general"):
        assert DEFAULT_QUEUES[queue].name == queue


# --- service_order -----------------------------------------------------------------------------------


def test_service_order_priority_first():
    waiting = [w("g", "general", 1), w("o", "orders", 2), w("v", "vip", 3)]
    assert ids(service_order(waiting)) == ["v", "o", "g"]


def test_service_order_vip_and_complaints_share_priority_fifo():
    waiting = [w("v2", "vip", 30), w("c1", "complaints", 10), w("v1", "vip", 20), w("c2", "complaints", 40)]
    assert ids(service_order(waiting)) == ["c1", "v1", "v2", "c2"]


def test_service_order_fifo_within_priority_across_queues():
    waiting = [w("o2", "orders", 5), w("a1", "after_sales", 1), w("o1", "orders", 3), w("a2", "after_sales", 9)]
    assert ids(service_order(waiting)) == ["a1", "o1", "o2", "a2"]


def test_service_order_tie_break_by_id_is_stable():
    waiting = [w("c", "orders", 7), w("a", "after_sales", 7), w("b", "orders", 7)]
    assert ids(service_order(waiting)) == ["a", "b", "c"]
    assert ids(service_order(reversed(waiting))) == ["a", "b", "c"]


def test_service_order_lower_priority_waits_even_if_earlier():
    waiting = [w("old", "general", 0), w("new", "complaints", 1000)]
    assert ids(service_order(waiting)) == ["new", "old"]


def test_service_order_custom_queue_table():
    queues = {
        "slow": Queue("slow", skill="s", priority=5, first_response_seconds=10),
        "fast": Queue("fast", skill="f", priority=1, first_response_seconds=10),
    }
    waiting = [w("s1", "slow", 1), w("f1", "fast", 2)]
    assert ids(service_order(waiting, queues)) == ["f1", "s1"]
    # And the default table would reject the unknown queue names.
    with pytest.raises(KeyError):
        service_order(waiting)


def test_service_order_empty_and_does_not_mutate_input():
    assert service_order([]) == []
    waiting = [w("b", "general", 2), w("a", "general", 1)]
    service_order(waiting)
    assert ids(waiting) == ["b", "a"]


# --- best_agent --------------------------------------------------------------------------------------


def test_best_agent_needs_skill():
    assert best_agent([online("a", "orders")], "general") is None
    assert best_agent([online("a", "orders"), online("b", "general")], "general").id == "b"


@pytest.mark.parametrize("status", ["away", "offline"])
def test_best_agent_never_picks_away_or_offline(status):
    idle = Agent("x", frozenset({"orders"}), status, capacity=5, active=0, idle_since=0)
    busy = online("y", "orders", capacity=2, active=1, idle_since=999)
    assert best_agent([idle, busy], "orders").id == "y"
    assert best_agent([idle], "orders") is None


def test_best_agent_needs_free_slot():
    full = online("full", "orders", capacity=2, active=2)
    assert best_agent([full], "orders") is None
    assert best_agent([full, online("b", "orders", capacity=2, active=1)], "orders").id == "b"


def test_best_agent_over_capacity_is_not_available():
    assert best_agent([online("a", "orders", capacity=2, active=5)], "orders") is None


def test_best_agent_none_when_empty():
    assert best_agent([], "orders") is None


def test_best_agent_least_loaded_share_first():
    quarter = online("z-quarter", "orders", capacity=4, active=1, idle_since=500)
    half = online("a-half", "orders", capacity=2, active=1, idle_since=1)
    assert best_agent([half, quarter], "orders").id == "z-quarter"
    assert best_agent([quarter, half], "orders").id == "z-quarter"


def test_best_agent_share_beats_fewer_active():
    # 2/8 = 0.25 < 1/2 even though it has more conversations.
    big = online("big", "orders", capacity=8, active=2, idle_since=100)
    small = online("small", "orders", capacity=2, active=1, idle_since=0)
    assert best_agent([small, big], "orders").id == "big"


def test_best_agent_equal_share_fewer_active_wins():
    two_of_four = online("a", "orders", capacity=4, active=2, idle_since=0)
    one_of_two = online("b", "orders", capacity=2, active=1, idle_since=100)
    assert best_agent([two_of_four, one_of_two], "orders").id == "b"


def test_best_agent_then_idle_longest():
    early = online("z", "orders", idle_since=10)
    late = online("a", "orders", idle_since=20)
    assert best_agent([late, early], "orders").id == "z"


def test_best_agent_then_id():
    assert best_agent([online("b", "orders"), online("a", "orders"), online("c", "orders")], "orders").id == "a"


# --- assign ------------------------------------------------------------------------------------------


def test_assign_greedy_in_service_order():
    waiting = [w("g", "general", 1), w("c", "complaints", 50), w("v", "vip", 40)]
    agents = [online("a", "general", "complaints", "vip", capacity=2)]
    result = assign(waiting, agents, now=100)
    assert result == [Assignment("v", "a", "vip"), Assignment("c", "a", "complaints")]


def test_assign_respects_capacity_within_one_call():
    waiting = [w(f"c{i}", "orders", i) for i in range(5)]
    result = assign(waiting, [online("a", "orders", capacity=2)], now=10)
    assert [(r.conversation_id, r.agent_id) for r in result] == [("c0", "a"), ("c1", "a")]


def test_assign_counts_existing_active_conversations():
    waiting = [w(f"c{i}", "orders", i) for i in range(5)]
    result = assign(waiting, [online("a", "orders", capacity=3, active=2)], now=10)
    assert ids(result) == ["c0"]


def test_assign_spreads_load_across_agents():
    waiting = [w(f"c{i}", "orders", i) for i in range(4)]
    agents = [online("a", "orders", capacity=2, idle_since=1), online("b", "orders", capacity=2, idle_since=2)]
    result = assign(waiting, agents, now=10)
    assert [(r.conversation_id, r.agent_id) for r in result] == [("c0", "a"), ("c1", "b"), ("c2", "a"), ("c3", "b")]


def test_assign_unservable_conversation_does_not_block_later_ones():
    waiting = [w("v", "vip", 1), w("c", "complaints", 2), w("o", "orders", 3)]
    result = assign(waiting, [online("a", "orders")], now=10)
    assert result == [Assignment("o", "a", "orders")]


def test_assign_full_skill_does_not_block_other_queues():
    waiting = [w("o1", "orders", 1), w("o2", "orders", 2), w("g1", "general", 3)]
    agents = [online("ord", "orders", capacity=1), online("gen", "general", capacity=1)]
    result = assign(waiting, agents, now=10)
    assert [(r.conversation_id, r.agent_id) for r in result] == [("o1", "ord"), ("g1", "gen")]


def test_assign_ignores_away_and_offline_agents():
    agents = [Agent("away", frozenset({"orders"}), "away"), Agent("off", frozenset({"orders"}), "offline")]
    assert assign([w("o", "orders")], agents, now=1) == []


def test_assign_empty_inputs():
    assert assign([], [online("a", "orders")], now=1) == []
    assert assign([w("o", "orders")], [], now=1) == []


def test_assign_does_not_mutate_agents():
    agent = online("a", "orders", capacity=2)
    assign([w("o1", "orders"), w("o2", "orders", 1)], [agent], now=5)
    assert agent.active == 0 and agent.idle_since == 0.0


def test_assign_agent_taking_first_conversation_counts_as_busy_since_now():
    # a and b were idle; they get work at now=1000. c was already busy (idle_since 15, later than a's
    # 10). For the third conversation all three are at 1/2, so the tie goes to c: a's old idle time no
    # longer counts once a is busy.
    agents = [
        online("a", "orders", capacity=2, idle_since=10),
        online("b", "orders", capacity=2, idle_since=20),
        online("c", "orders", capacity=2, active=1, idle_since=15),
    ]
    waiting = [w(f"o{i}", "orders", i) for i in range(3)]
    result = assign(waiting, agents, now=1000)
    assert [r.agent_id for r in result] == ["a", "b", "c"]


def test_assign_busy_agent_keeps_idle_since():
    # Both already busy at 1/4; x keeps its earlier idle_since after its first new conversation, so
    # after one round (both at 2/4) x is again ahead of y.
    agents = [
        online("y", "orders", capacity=4, active=1, idle_since=50),
        online("x", "orders", capacity=4, active=1, idle_since=40),
    ]
    waiting = [w(f"o{i}", "orders", i) for i in range(3)]
    result = assign(waiting, agents, now=1000)
    assert [r.agent_id for r in result] == ["x", "y", "x"]


# --- preferred agents: the VIP's advisor, a returning customer's last agent --------------------------


def vip(cid, advisor=None, last=None, at=0.0):
    return Waiting(cid, "vip", at, advisor=advisor, last_agent=last)


def test_advisor_online_with_a_free_slot_gets_the_vip_first():
    agents = [online("v1", "vip", idle_since=1), online("adv", "general", idle_since=99, active=2)]
    assert assign([vip("c", advisor="adv")], agents, now=100) == [Assignment("c", "adv", "vip")]
    assert assign([vip("c")], agents, now=100) == [Assignment("c", "v1", "vip")]  # without: the best VIP agent


@pytest.mark.parametrize("status", ["away", "offline"])
def test_advisor_not_online_the_vip_queue_takes_it(status):
    agents = [Agent("adv", frozenset({"vip"}), status), online("v1", "vip")]
    assert assign([vip("c", advisor="adv")], agents, now=1) == [Assignment("c", "v1", "vip")]


def test_advisor_full_the_vip_queue_takes_it_and_nobody_else_it_waits():
    full = online("adv", "vip", capacity=2, active=2)
    assert assign([vip("c", advisor="adv")], [full, online("v1", "vip")], now=1) == [Assignment("c", "v1", "vip")]
    assert assign([vip("c", advisor="adv")], [full], now=1) == []


def test_advisor_who_passed_on_it_is_not_offered_it_again():
    agents = [online("adv", "vip"), online("v1", "vip")]
    result = assign([vip("c", advisor="adv")], agents, now=1, exclude={"c": frozenset({"adv"})})
    assert result == [Assignment("c", "v1", "vip")]


def test_advisor_fills_up_within_one_round_then_the_queue():
    waiting = [vip("c1", advisor="adv", at=1), vip("c2", advisor="adv", at=2), vip("c3", advisor="adv", at=3)]
    agents = [online("adv", "vip", capacity=2), online("v1", "vip")]
    assert [(r.conversation_id, r.agent_id) for r in assign(waiting, agents, now=5)] == [
        ("c1", "adv"), ("c2", "adv"), ("c3", "v1")]


def test_advisor_wins_over_last_agent():
    agents = [online("adv", "vip"), online("last", "vip")]
    assert assign([vip("c", advisor="adv", last="last")], agents, now=1)[0].agent_id == "adv"
    agents = [online("adv", "vip", capacity=1, active=1), online("last", "vip"), online("v1", "vip", idle_since=-5)]
    assert assign([vip("c", advisor="adv", last="last")], agents, now=1)[0].agent_id == "last"


def test_returning_customer_prefers_their_last_agent_over_a_better_one():
    agents = [online("idle", "general", idle_since=0), online("last", "general", active=2, idle_since=50)]
    returning = Waiting("c", "general", 0, last_agent="last")
    assert assign([returning], agents, now=100) == [Assignment("c", "last", "general")]


@pytest.mark.parametrize("last", [Agent("last", frozenset({"general"}), "away"),
                                  online("last", "general", capacity=1, active=1),
                                  online("last", "orders")],  # online and free, but not the queue's skill
                         ids=["away", "full", "unskilled"])
def test_last_agent_unavailable_or_unskilled_the_queue_takes_it(last):
    returning = Waiting("c", "general", 0, last_agent="last")
    assert assign([returning], [last, online("g", "general")], now=1) == [Assignment("c", "g", "general")]


def test_last_agent_unknown_or_gone_is_ignored():
    returning = Waiting("c", "general", 0, last_agent="nobody", advisor="gone")
    assert assign([returning], [online("g", "general")], now=1) == [Assignment("c", "g", "general")]


def test_preferred_agent_alone():
    item = Waiting("c", "orders", 0, advisor="adv", last_agent="last")
    assert preferred_agent(item, [online("last", "orders")], "orders").id == "last"
    assert preferred_agent(item, [online("last", "orders")], "orders", frozenset({"last"})) is None
    assert preferred_agent(item, [online("adv", "general")], "orders").id == "adv"
    assert preferred_agent(Waiting("c", "orders", 0), [online("a", "orders")], "orders") is None


def test_preferences_do_not_change_the_service_order():
    """The line is served in the same order; only who gets each one changes."""
    waiting = [Waiting("g", "general", 1, last_agent="a"), vip("v", at=5)]
    agents = [online("a", "general", "vip", capacity=1)]
    assert assign(waiting, agents, now=10) == [Assignment("v", "a", "vip")]


def test_assign_custom_queues_shared_skill():
    queues = {
        "hot": Queue("hot", skill="s", priority=0, first_response_seconds=10),
        "cold": Queue("cold", skill="s", priority=1, first_response_seconds=10),
    }
    waiting = [w("cold1", "cold", 1), w("hot1", "hot", 9)]
    result = assign(waiting, [online("a", "s", capacity=1)], now=10, queues=queues)
    assert result == [Assignment("hot1", "a", "hot")]


def _scenario(seed=7):
    rng = random.Random(seed)
    names = list(DEFAULT_QUEUES)
    waiting = [w(f"conv{i:03d}", rng.choice(names), float(rng.randint(0, 500))) for i in range(200)]
    agents = []
    for i in range(20):
        status = ["online", "online", "online", "away", "offline"][i % 5]
        agents.append(Agent(f"agent{i:02d}", frozenset({names[i % len(names)]}), status,
                            capacity=rng.randint(1, 4), active=rng.randint(0, 2), idle_since=float(rng.randint(0, 99))))
    return waiting, agents


def test_assign_large_scenario_fills_every_free_slot_it_can():
    waiting, agents = _scenario()
    result = assign(waiting, agents, now=1000)

    # Every agent has exactly one skill, so per skill the best possible is min(free slots, waiting).
    expected = 0
    for name, queue in DEFAULT_QUEUES.items():
        slots = sum(a.free for a in agents if queue.skill in a.skills)
        demand = sum(1 for x in waiting if x.queue == name)
        expected += min(slots, demand)
    total_free = sum(a.free for a in agents)
    assert 0 < expected <= total_free
    assert len(result) == expected

    by_id = {a.id: a for a in agents}
    queue_of = {x.conversation_id: x.queue for x in waiting}
    assert len({r.conversation_id for r in result}) == len(result)
    taken = {}
    for r in result:
        agent = by_id[r.agent_id]
        assert agent.status == "online"
        assert r.queue == queue_of[r.conversation_id]
        assert DEFAULT_QUEUES[r.queue].skill in agent.skills
        taken[agent.id] = taken.get(agent.id, 0) + 1
    for aid, n in taken.items():
        assert by_id[aid].active + n <= by_id[aid].capacity


def test_assign_large_scenario_serves_in_service_order_per_skill():
    waiting, agents = _scenario()
    result = assign(waiting, agents, now=1000)
    assigned = {r.conversation_id for r in result}
    for name in DEFAULT_QUEUES:
        line = [x.conversation_id for x in service_order(waiting) if x.queue == name]
        n = sum(1 for cid in line if cid in assigned)
        assert set(line[:n]) == assigned & set(line)  # the head of each line, nobody skipped


def test_assign_is_deterministic():
    waiting, agents = _scenario(seed=3)
    first = assign(waiting, agents, now=1000)
    shuffled_w, shuffled_a = list(waiting), list(agents)
    random.Random(1).shuffle(shuffled_w)
    random.Random(2).shuffle(shuffled_a)
    assert assign(waiting, agents, now=1000) == first
    assert assign(shuffled_w, shuffled_a, now=1000) == first


# --- position ----------------------------------------------------------------------------------------


def test_position_one_based_among_same_skill():
    waiting = [w("o1", "orders", 1), w("g1", "general", 0), w("o2", "orders", 2), w("v1", "vip", 5)]
    assert position(waiting, "o1") == 1
    assert position(waiting, "o2") == 2
    assert position(waiting, "g1") == 1
    assert position(waiting, "v1") == 1


def test_position_follows_service_order_not_input_order():
    waiting = [w("late", "orders", 9), w("early", "orders", 1)]
    assert position(waiting, "early") == 1
    assert position(waiting, "late") == 2


def test_position_unknown_id_is_none():
    assert position([w("o1", "orders")], "nope") is None
    assert position([], "nope") is None


def test_position_changes_as_others_ahead_leave():
    waiting = [w(f"o{i}", "orders", i) for i in range(4)]
    assert position(waiting, "o3") == 4
    waiting = [x for x in waiting if x.conversation_id != "o0"]
    assert position(waiting, "o3") == 3
    waiting = [x for x in waiting if x.conversation_id != "o2"]
    assert position(waiting, "o3") == 2
    # Removing someone behind does not move it.
    assert position(waiting + [w("o9", "orders", 99)], "o3") == 2


def test_position_counts_queues_sharing_a_skill():
    queues = {
        "hot": Queue("hot", skill="s", priority=0, first_response_seconds=10),
        "cold": Queue("cold", skill="s", priority=1, first_response_seconds=10),
        "other": Queue("other", skill="t", priority=0, first_response_seconds=10),
    }
    waiting = [w("c1", "cold", 1), w("h1", "hot", 5), w("x1", "other", 0)]
    assert position(waiting, "c1", queues) == 2
    assert position(waiting, "h1", queues) == 1
    assert position(waiting, "x1", queues) == 1


# --- estimated_wait ----------------------------------------------------------------------------------


def test_estimated_wait_none_without_online_skilled_agent():
    assert estimated_wait(1, [], "orders", 300) is None
    assert estimated_wait(1, [online("a", "general")], "orders", 300) is None
    away = [Agent("a", frozenset({"orders"}), "away"), Agent("b", frozenset({"orders"}), "offline")]
    assert estimated_wait(1, away, "orders", 300) is None


def test_estimated_wait_zero_when_free_slot_for_position():
    agents = [online("a", "orders", capacity=3, active=1)]  # 2 free
    assert estimated_wait(1, agents, "orders", 300) == 0
    assert estimated_wait(2, agents, "orders", 300) == 0
    assert estimated_wait(3, agents, "orders", 300) > 0


def test_estimated_wait_value():
    # Full agent with capacity 2, 300 s per conversation: a slot every 150 s.
    agents = [online("a", "orders", capacity=2, active=2)]
    assert estimated_wait(1, agents, "orders", 300) == 150
    assert estimated_wait(2, agents, "orders", 300) == 300


def test_estimated_wait_grows_with_position():
    agents = [online("a", "orders", capacity=2, active=2)]
    waits = [estimated_wait(p, agents, "orders", 300) for p in range(1, 6)]
    assert waits == sorted(set(waits))


def test_estimated_wait_shrinks_with_more_agents():
    one = [online("a", "orders", capacity=2, active=2)]
    two = one + [online("b", "orders", capacity=2, active=2)]
    assert estimated_wait(5, two, "orders", 300) < estimated_wait(5, one, "orders", 300)


def test_estimated_wait_shrinks_with_more_capacity():
    small = [online("a", "orders", capacity=2, active=2)]
    big = [online("a", "orders", capacity=4, active=4)]
    assert estimated_wait(5, big, "orders", 300) < estimated_wait(5, small, "orders", 300)


def test_estimated_wait_away_agents_do_not_count():
    base = [online("a", "orders", capacity=2, active=2)]
    away = Agent("b", frozenset({"orders"}), "away", capacity=10, active=0)
    assert estimated_wait(3, base + [away], "orders", 300) == estimated_wait(3, base, "orders", 300)
    assert estimated_wait(1, base + [away], "orders", 300) > 0


def test_estimated_wait_agents_without_skill_do_not_count():
    base = [online("a", "orders", capacity=2, active=2)]
    other = online("b", "general", capacity=10)
    assert estimated_wait(3, base + [other], "orders", 300) == estimated_wait(3, base, "orders", 300)


# --- sla_state ---------------------------------------------------------------------------------------

MINUTE = Queue("m", skill="m", priority=1, first_response_seconds=100)


def test_sla_ok_before_due_soon():
    assert sla_state(MINUTE, 1000, 1000) == ("ok", 100)
    assert sla_state(MINUTE, 1000, 1079) == ("ok", 21)


def test_sla_due_soon_from_80_percent():
    assert sla_state(MINUTE, 1000, 1080) == ("due_soon", 20)
    assert sla_state(MINUTE, 1000, 1099.5) == ("due_soon", 0.5)


def test_sla_exactly_at_deadline_is_not_breached():
    assert sla_state(MINUTE, 1000, 1100) == ("due_soon", 0)


def test_sla_breached_after_deadline():
    assert sla_state(MINUTE, 1000, 1100.5) == ("breached", -0.5)
    assert sla_state(MINUTE, 1000, 2000) == ("breached", -900)


def test_sla_custom_due_soon_share():
    assert sla_state(MINUTE, 0, 49, due_soon_share=0.5)[0] == "ok"
    assert sla_state(MINUTE, 0, 50, due_soon_share=0.5)[0] == "due_soon"


def test_sla_default_queues_targets():
    assert sla_state(DEFAULT_QUEUES["complaints"], 0, 2879) == ("ok", 721)
    assert sla_state(DEFAULT_QUEUES["complaints"], 0, 2880) == ("due_soon", 720)
    assert sla_state(DEFAULT_QUEUES["vip"], 0, 61) == ("breached", -1)


def test_sla_met_and_missed_after_first_reply_independent_of_now():
    for now in (1001, 1100, 5000):
        assert sla_state(MINUTE, 1000, now, first_response_at=1030) == ("met", 70)
        assert sla_state(MINUTE, 1000, now, first_response_at=1100) == ("met", 0)
        assert sla_state(MINUTE, 1000, now, first_response_at=1101) == ("missed", -1)


# --- BusinessHours -----------------------------------------------------------------------------------


def test_business_hours_open_at_nine_local():
    hours = BusinessHours()
    assert hours.is_open(ts(2024, 5, 15, 9, 0))
    assert not hours.is_open(ts(2024, 5, 15, 8, 59, 59))
    assert hours.is_open(ts(2024, 5, 15, 12, 30))


def test_business_hours_closed_at_twenty_two_local():
    hours = BusinessHours()
    assert hours.is_open(ts(2024, 5, 15, 21, 59, 59))
    assert not hours.is_open(ts(2024, 5, 15, 22, 0))
    assert not hours.is_open(ts(2024, 5, 15, 23, 30))
    assert not hours.is_open(ts(2024, 5, 16, 0, 0))


def test_business_hours_uses_local_not_utc():
    hours = BusinessHours()
    # 02:00 UTC is 10:00 in +08:00 (open); 14:00 UTC is 22:00 local (closed).
    assert hours.is_open(ts(2024, 5, 15, 2, 0, tz=timezone.utc))
    assert not hours.is_open(ts(2024, 5, 15, 14, 0, tz=timezone.utc))
    # 23:00 UTC on Tuesday is 07:00 on Wednesday local (closed).
    assert not hours.is_open(ts(2024, 5, 14, 23, 0, tz=timezone.utc))


def test_business_hours_weekday_sunday_closed():
    weekdays = {d: (9 * 60, 22 * 60) for d in range(6)}  # Sunday (6) closed
    hours = BusinessHours(hours=weekdays)
    sunday = datetime(2024, 5, 19, 12, 0, tzinfo=SHOP_TZ)
    assert sunday.weekday() == 6
    assert not hours.is_open(sunday.timestamp())
    assert hours.is_open(ts(2024, 5, 18, 12, 0))  # Saturday
    assert hours.is_open(ts(2024, 5, 20, 12, 0))  # Monday
    # Saturday 12:00 UTC is Saturday 20:00 local (open); Saturday 20:00 UTC is already Sunday local.
    assert hours.is_open(ts(2024, 5, 18, 12, 0, tz=timezone.utc))
    assert not hours.is_open(ts(2024, 5, 18, 20, 0, tz=timezone.utc))


def test_business_hours_each_weekday_maps_correctly():
    # Open only on one weekday at a time; check it against datetime's weekday for a whole week.
    start = datetime(2024, 5, 13, 12, 0, tzinfo=SHOP_TZ)  # Monday
    for offset in range(7):
        day = start + timedelta(days=offset)
        for only in range(7):
            hours = BusinessHours(hours={only: (9 * 60, 22 * 60)})
            assert hours.is_open(day.timestamp()) == (day.weekday() == only)


def test_business_hours_custom_offset():
    tz = timezone(timedelta(hours=-5))
    hours = BusinessHours(utc_offset_minutes=-5 * 60, hours={d: (8 * 60, 17 * 60) for d in range(5)})
    assert hours.is_open(ts(2024, 5, 17, 8, 0, tz=tz))  # Friday 08:00 local
    assert not hours.is_open(ts(2024, 5, 17, 17, 0, tz=tz))
    assert not hours.is_open(ts(2024, 5, 18, 10, 0, tz=tz))  # Saturday
    # Friday 23:00 UTC is still Friday 18:00 local: closed by the hour, not by the day.
    assert not hours.is_open(ts(2024, 5, 17, 23, 0, tz=timezone.utc))
    # Monday 13:00 UTC is Monday 08:00 local: open.
    assert hours.is_open(ts(2024, 5, 20, 13, 0, tz=timezone.utc))


def test_business_hours_half_hour_offset():
    tz = timezone(timedelta(hours=5, minutes=30))
    hours = BusinessHours(utc_offset_minutes=330)
    assert hours.is_open(ts(2024, 5, 15, 9, 0, tz=tz))
    assert not hours.is_open(ts(2024, 5, 15, 8, 59, tz=tz))
    assert not hours.is_open(ts(2024, 5, 15, 22, 0, tz=tz))


def test_business_hours_before_1970():
    assert BusinessHours().is_open(ts(1969, 12, 31, 10, 0))  # a Wednesday
    assert not BusinessHours(hours={2: (0, 60)}).is_open(ts(1969, 12, 31, 10, 0))
    assert BusinessHours(hours={2: (9 * 60, 22 * 60)}).is_open(ts(1969, 12, 31, 10, 0))


# --- validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize("priority, target", [(-1, 60), (0, 0), (1, -5)])
def test_queue_validation(priority, target):
    with pytest.raises(ValueError):
        Queue("q", skill="s", priority=priority, first_response_seconds=target)


def test_queue_valid_edges():
    assert Queue("q", skill="s", priority=0, first_response_seconds=1).priority == 0


@pytest.mark.parametrize("kw", [{"status": "busy"}, {"status": "Online"}, {"capacity": 0}, {"active": -1}])
def test_agent_validation(kw):
    with pytest.raises(ValueError):
        Agent("a", frozenset({"s"}), **kw)


def test_agent_defaults_and_free():
    agent = Agent("a", frozenset({"s"}))
    assert agent.status == "offline" and agent.free == 0
    assert online("b", "s", capacity=3, active=1).free == 2
    assert online("c", "s", capacity=2, active=4).free == 0
    assert Agent("d", frozenset({"s"}), "away", capacity=3).free == 0
    assert Agent("e", frozenset({"s"}), "online", capacity=1).free == 1
