"""tickets/model.py: the state machine (every pair of statuses, in and outside TRANSITIONS), ticket
numbers both ways, the overdue rule and the due time's clock stopped during a wait on the customer."""
from __future__ import annotations

import itertools

import pytest

from tickets.model import (
    DONE,
    STATUSES,
    TRANSITIONS,
    Ticket,
    TicketError,
    check_transition,
    clock_time,
    is_overdue,
    number,
    parse_number,
    waits,
)

# The diagram of the module docstring, written out by hand: the only moves a ticket may make.
ALLOWED = {
    ("open", "in_progress"), ("open", "waiting_customer"), ("open", "resolved"), ("open", "closed"),
    ("in_progress", "waiting_customer"), ("in_progress", "resolved"), ("in_progress", "closed"),
    ("waiting_customer", "in_progress"), ("waiting_customer", "resolved"), ("waiting_customer", "closed"),
    ("resolved", "in_progress"), ("resolved", "closed"),
}


def test_transitions_are_the_diagram():
    assert set(TRANSITIONS) == set(STATUSES)
    assert {(a, b) for a, nexts in TRANSITIONS.items() for b in nexts} == ALLOWED
    assert DONE == {"resolved", "closed"}


@pytest.mark.parametrize("current, wanted", sorted(ALLOWED))
def test_every_allowed_transition_passes(current, wanted):
    check_transition(current, wanted)  # no exception


@pytest.mark.parametrize("current, wanted", sorted(set(itertools.product(STATUSES, STATUSES)) - ALLOWED))
def test_every_other_transition_is_refused_saying_why(current, wanted):
    with pytest.raises(TicketError) as caught:
        check_transition(current, wanted)
    message = str(caught.value)
    if current == wanted:
        assert message == f"the ticket is {current} already"
    elif current == "closed":
        assert message == f"a closed ticket cannot become {wanted}; next: none (it is closed)"
    else:
        allowed = ", ".join(sorted(b for a, b in ALLOWED if a == current))
        article = "an" if current in ("open", "in_progress") else "a"
        assert message == f"{article} {current} ticket cannot become {wanted}; next: {allowed}"


@pytest.mark.parametrize("wanted", ["done", "", "OPEN", "in progress", None])
def test_unknown_statuses_are_refused(wanted):
    with pytest.raises(TicketError, match="unknown status"):
        check_transition("open", wanted)


def test_ticket_error_is_a_value_error():
    assert issubclass(TicketError, ValueError)


@pytest.mark.parametrize("ticket_id, text", [(1, "T000001"), (12, "T000012"), (999_999, "T999999"),
                                             (1_234_567, "T1234567")])
def test_number(ticket_id, text):
    assert number(ticket_id) == text
    assert parse_number(text) == ticket_id


@pytest.mark.parametrize("text, expected", [
    ("T000012", 12), ("t12", 12), ("12", 12), ("  T7 \n", 7), ("T0000000001", 1), ("000042", 42),
    ("T999999999999", 999_999_999_999),  # twelve digits: the longest accepted
    ("Ｔ１２", None), ("１２", 12),  # full-width digits (a Chinese keyboard) are digits; a full-width T is not a T
    ("T0", None), ("0", None), ("T000000", None),  # there is no ticket 0
    ("", None), ("   ", None), (None, None), ("T", None), ("TT12", None), ("T-1", None), ("-1", None),
    ("T1.5", None), ("T1e3", None), ("T 12", None), ("H000012", None), ("T12a", None), ("#12", None),
    ("T9999999999999", None),  # thirteen digits
    ("T²", None), ("³", None), ("T①", None),  # digit-like characters that are not decimal digits
])
def test_parse_number(text, expected):
    assert parse_number(text) == expected


def test_is_overdue_only_while_work_is_due():
    for status in STATUSES:
        assert is_overdue(status, 100.0, 100.0) is False  # at the due time: not yet
        assert is_overdue(status, 100.0, 100.5) is (status not in DONE)
        assert is_overdue(status, 100.0, 50.0) is False


def test_ticket_number_and_overdue_properties():
    ticket = Ticket(id=42, conversation_id=7, sender_id="web-1", customer_id=None, channel="web", language="zh",
                    category="technical", department="technical", subject="x", status="in_progress", owner_id=None,
                    created_by="a1", created_at=0.0, due_at=10.0, updated_at=0.0, resolved_at=None, closed_at=None,
                    overdue_at=None, csat_score=None, csat_comment=None)
    assert ticket.number == "T000042" and ticket.tier == "normal"
    assert ticket.overdue(11.0) and not ticket.overdue(10.0)


def test_a_wait_on_the_customer_judges_the_ticket_at_the_start_of_the_wait():
    assert is_overdue("waiting_customer", 100.0, 1e9, paused_at=90.0) is False  # waited long: still on time
    assert is_overdue("waiting_customer", 100.0, 1e9, paused_at=100.5) is True  # late before the wait began
    assert is_overdue("resolved", 100.0, 1e9, paused_at=200.0) is False
    assert clock_time(500.0, None) == 500.0 and clock_time(500.0, 120.0) == 120.0
    assert clock_time(100.0, 120.0) == 100.0  # a pause stamped ahead of this machine's clock stops nothing early
    ticket = Ticket(id=1, conversation_id=1, sender_id="web-1", customer_id=None, channel="web", language="zh",
                    category="technical", department="technical", subject="x", status="waiting_customer",
                    owner_id=None, created_by="a1", created_at=0.0, due_at=100.0, updated_at=0.0, resolved_at=None,
                    closed_at=None, overdue_at=None, csat_score=None, csat_comment=None, paused_at=40.0)
    assert not ticket.overdue(1e6) and ticket.seconds_left(1e6) == 60.0
    assert ticket.seconds_left(30.0) == 70.0


def test_waits_are_read_from_the_status_steps():
    steps = [("open", "in_progress", 1.0), ("in_progress", "waiting_customer", 5.0),
             ("waiting_customer", "in_progress", 9.0), ("in_progress", "resolved", 10.0),
             ("resolved", "in_progress", 12.0), ("in_progress", "waiting_customer", 20.0),
             ("waiting_customer", "closed", 30.0), (None, "waiting_customer", 40.0)]
    assert waits(steps) == [(5.0, 9.0), (20.0, 30.0)]  # the last wait is still going: not counted yet
    assert waits([]) == [] and waits([("waiting_customer", "in_progress", 3.0)]) == []
