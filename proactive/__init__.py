"""Proactive notifications (issue 9): rules over order, logistics and after-sales facts decide what a
customer should hear about; a policy decides whether it may go out now (opt-out, channel and its
window, quiet hours, rate limit); a store records every notification once (unique dedupe key: safe on
several replicas) with its outcome; a scheduler runs it all on an interval and delivers through Rasa's
`trigger_intent`, so the message leaves on the customer's own channel. Details: docs/proactive.md.

    model.py     typed values at the boundaries
    rules.py     pure: facts + now -> candidate notifications
    texts.py     pure: zh/en texts and buttons of each kind
    policy.py    pure: may this candidate be sent now?
    store.py     SQLite: notifications, opt-outs, outcomes, atomic claims
    facts.py     adapters: reachable customers (channel directory) and their orders (OrderBackend)
    outcomes.py  adapter: what the customer did after a notification (Rasa's tracker store)
    scheduler.py the loop
    metrics.py   Prometheus, read from the store at scrape time (true across replicas)
"""
