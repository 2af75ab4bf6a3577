"""The conversations simulated customers hold: pure data and one function that deals them out.

Each conversation is a list of turns (what the customer writes, and a check of the bot's reply). The
phrasings are written for this benchmark (none comes from an evaluation set). Mix per customer, in
a fixed seeded order: FAQ 50 %, order lookup 35 %, handoff 15 % (a handoff leaves the customer with
people, so it is the conversation's last turn)."""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

Check = Callable[[List[str]], bool]


def any_reply(replies: List[str]) -> bool:
    return any(r.strip() for r in replies)


def containing(*needles: str) -> Check:
    return lambda replies: any(n in r for r in replies for n in needles)


@dataclass(frozen=True)
class Turn:
    text: str
    check: Check = any_reply
    kind: str = "other"  # faq | order | handoff | other: latency is reported per kind


@dataclass(frozen=True)
class Conversation:
    name: str
    language: str
    turns: Tuple[Turn, ...]
    customer_id: Optional[str] = None  # signed in (a customer token in the metadata)


FAQ = {
    "zh": [("你好", "other"), ("退货要在几天内申请", "faq"), ("运费谁来出", "faq"), ("谢谢", "other")],
    "en": [("hello", "other"), ("how many days do I have to return an item", "faq"),
           ("who pays for the return shipping", "faq"), ("thanks", "other")],
}
FAQ_MORE = {
    "zh": ["发票怎么开", "会员有什么优惠", "支持哪些付款方式", "商品坏了怎么保修", "可以修改收货地址吗"],
    "en": ["how do I get an invoice", "what do members get", "which payment methods do you accept",
           "my item broke, is it under warranty", "can I change the delivery address"],
}
ORDER = {"zh": "订单{number}到哪了", "en": "where is my order {number}"}
HANDOFF = {"zh": [("你好", "other"), ("转人工", "handoff")], "en": [("hi", "other"), ("talk to a person", "handoff")]}


def deal(n: int, seed: int, orders: Sequence[Tuple[str, str]]) -> List[Conversation]:
    """`n` conversations; `orders`: (order number, its customer id) to look up."""
    rng = random.Random(seed)
    conversations = []
    for i in range(n):
        language = ("zh", "en")[i % 2]
        draw = rng.random()
        if draw < 0.5:
            turns = [Turn(t, kind=k) for t, k in FAQ[language][:1]]
            turns += [Turn(t, kind="faq") for t in rng.sample(FAQ_MORE[language], 2)]
            turns += [Turn(t, kind=k) for t, k in FAQ[language][1:]]
            conversations.append(Conversation("faq", language, tuple(turns)))
        elif draw < 0.85:
            number, customer = rng.choice(list(orders))
            lookup = Turn(ORDER[language].format(number=number), containing(number), "order")
            turns = (Turn(FAQ[language][0][0]), lookup, Turn(FAQ[language][-1][0]))
            conversations.append(Conversation("order", language, turns, customer))
        else:
            turns = tuple(Turn(t, kind=k) for t, k in HANDOFF[language])
            conversations.append(Conversation("handoff", language, turns))
    return conversations
