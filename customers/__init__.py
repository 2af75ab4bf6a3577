"""Customers as the system already knows them: a value tier by an RFM model (`rfm.py`, pure) and a
360° profile per customer (`profile.py`: a pure builder over read-only adapters of the order system,
the channel directory, Rasa's tracker store and the handoff store). Details: docs/customers.md."""
