"""Orders: the domain model, the business rules, and the order systems the bot talks to.

`backend.OrderBackend` is the one protocol actions use; `sqlite_backend` (embedded, default) and
`http_backend` (an external order-management API) implement it; `api` serves any backend over that
HTTP contract (the reference server, and the fake the tests run against).
"""
