"""common/ticket_query.py: which messages ask about a ticket (the handoff policy sends them to
action_ticket_status), and which quote a number."""
import pytest

from common.ticket_query import ticket_query


@pytest.mark.parametrize("text, number", [
    ("T000012", "T000012"), ("t000012", "T000012"), ("工单T000012怎么样了", "T000012"),
    ("我的工单号是 T123456，进度如何", "T123456"), ("what about ticket T000003?", "T000003"),
])
def test_a_quoted_number_is_a_ticket_question_with_that_number(text, number):
    assert ticket_query(text) == (True, number)


@pytest.mark.parametrize("text", [
    "我的工单", "我的工单进度", "工单处理得怎么样了", "查一下工单", "帮我查询工单", "投诉工单状态",
    "what's my ticket status", "Ticket status please", "status of my ticket", "my tickets",
])
def test_asking_for_the_tickets_progress_without_a_number(text):
    assert ticket_query(text) == (True, None)


@pytest.mark.parametrize("text", [
    "", "where is my order", "订单 260924984883 到哪了", "T1234567", "AT000012", "T00001",
    "买票", "ticket", "我要投诉", "转人工", "电影票怎么退",
])
def test_other_messages_are_not(text):
    assert ticket_query(text) == (False, None)
