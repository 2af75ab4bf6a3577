"""Service metrics for managers, computed from the three records the system already keeps: Rasa's
tracker store (conversations), the handoff service's store (conversations with people, CSAT, tickets)
and the knowledge-base query log. `sources` reads them (read-only), `metrics.compute` turns them into a
`Report`, `export` writes its series and breakdowns as CSV.

Definitions (what the dashboard shows as help)
----------------------------------------------
Conversation
    One Rasa session of one customer (from a session start to the next; a session ends after 60 idle
    minutes) in which the customer wrote at least one message. Messages the handoff service injects
    (agents' messages, the end of a handoff) are not the customer's. A conversation belongs to the
    period, hour or day in which it started; its messages and handoff counts go with it.
Channel, language, customer, tier
    Channel: that of the customer's first message. Language: the last one detected in the
    conversation ("unknown" if none). Customer: the verified customer (signed channel token or the
    phone check), if any. Tier: the order system's tier of that customer; else the handoff record's
    tier (e.g. "vip"); else "guest" without a verified customer, "normal" with one.
Containment rate
    Conversations the bot handled without handing over to people / conversations.
Handoff rate (overall and by reason)
    Conversations handed over (the handoff action ran) / conversations; by reason: those handed over
    for that reason / all conversations ("unknown" when the handoff service has no record of it).
FAQ answer, suggest and no-answer rates
    Of the knowledge-base lookups made in the period: answered directly / offered suggestions / no
    answer (none found, or the knowledge base unavailable). The three add up to 1.
Intent fallback rate
    Customer messages the NLU could not classify confidently (intent nlu_fallback) / customer messages.
Bot response time
    From a customer's message to the bot's first message after it (messages the bot did not answer,
    e.g. while an agent owns the conversation, are left out).
Handoffs
    Conversations with people created in the period (tickets included: messages left while nobody
    could answer, taken later).
Queue wait
    From the handoff to the moment the agent who kept the conversation was offered it (or took it
    from the queue). The store keeps no separate time for the click on "accept"; a declined or lapsed
    offer, or a transfer to a queue, starts the wait for the next agent again from the handoff.
First agent response
    From the handoff to the agent's first message.
SLA compliance
    Met / (met + missed). Met: the first agent message came within the queue's first-response target
    (vip, after_sales, orders, general: 60 s; complaints: 1 h). Missed: it came later, or has not come
    and the target has passed (also for conversations closed without an agent message). Not answered
    yet and still within the target: not counted (pending). The console's rule (handoff/routing.py).
Resolution time
    From the handoff to its end: closed by the agent or handed back to the bot.
CSAT
    The customers' ratings (1-5) of closed conversations with people: average, count, and how many of
    each score; counted with the handoff, in the period in which the handoff was created.
Repeat contacts
    Conversations whose customer (the verified customer, else the same conversation id) had another
    conversation that started within the 24 hours before this one started (earlier periods count).
Tickets (工单)
    Tickets (tickets/model.py) created in the period, as they are now: a ticket belongs to the period,
    hour or day in which it was created, like a handoff; its later history goes with it. Overall, by
    department and by category (their current ones), and tickets opened per bucket of the time series.
    Not to be confused with the handoffs' "tickets" above (messages left while nobody could answer).
Tickets opened, resolved, closed unresolved, still open
    Opened: tickets created in the period. Resolved: of those, the ones resolved now (status resolved,
    or closed after their resolution: rated, or closed by the owner, a supervisor or the wait); a
    reopened ticket is not resolved until it is resolved again. Closed unresolved: closed by a
    supervisor without a resolution (a duplicate, a request withdrawn). Still open: open, in progress
    or waiting for the customer. The three add up to the tickets opened.
Ticket overdue rate
    Overdue tickets / tickets opened. Overdue: still open and past its due time now, or resolved after
    its due time (a ticket closed unresolved: closed after it). Due times follow the category's working
    hours or days (data/handoff/tickets.yml); a recategorised ticket is judged by its new due time.
On-time resolution rate
    Tickets resolved by their due time / tickets resolved (the latest resolution of a reopened ticket).
Ticket resolution time
    From the ticket's creation to its resolution, in hours, for the resolved ones: p50 and p90.
Ticket first response
    From the ticket's creation to the first thing an agent sent the customer about it, in hours: a reply,
    or a status change with a message (waiting for the customer's answer, resolved, closed). The
    creation notice, internal notes, changes the customer was not told of, the customer's own answers
    and the service's automatic notices do not count. p50 and p90.
Reopened tickets
    Tickets taken from resolved back to in progress at least once.
Ticket CSAT
    The customers' ratings (1-5) of resolved tickets: average and count.
Percentiles (p50, p90)
    Nearest rank: sort the n values and take the ceil(p/100 x n)-th; always an observed value.
No data
    A rate or percentile with nothing to compute it from is empty (None), never 0.
Filters and breakdowns
    Period: half-open [start, end). Channel, language and tier select conversations, handoffs and
    knowledge-base lookups (a lookup by its own channel and language, by its conversation's tier).
    Queue and reason select handoffs and the conversations handed over to that queue / for that
    reason, and those conversations' lookups; "(none)" is the bot-only conversations. Tickets are
    selected by channel, language and tier (their conversation's, like handoffs); the queue filter does
    not apply to tickets (a ticket has a department, not a queue): they stay all the tickets. The time
    series is by hour when the period is 2 days or less, else by day; days start at local midnight
    (UTC+08:00 unless configured).
"""
from insight.metrics import compute
from insight.model import Filters, HandoffRecord, KbLookup, Session, TicketRecord, TicketStep, Turn
from insight.report import Report

__all__ = ["compute", "Filters", "HandoffRecord", "KbLookup", "Report", "Session", "TicketRecord", "TicketStep",
           "Turn"]
