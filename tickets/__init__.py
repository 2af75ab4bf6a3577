"""Tickets: problems that outlive a chat. Pure parts only (the model and its state machine, the
working-time calendar for due times, the category configuration, what the customer is told); the
handoff service stores and serves them (handoff/ticket_store.py, handoff/ticket_service.py,
handoff/tickets_api.py). docs/tickets.md."""
