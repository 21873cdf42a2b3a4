"""Delivery machinery: what carries the outboxes' contents out of the process, and the operator's view of it.

The use cases (``exams.services``) write events and emails to outboxes inside their unit of work; this package
publishes them: the event relay with its lease and loop (``relay``), the role-event consumer (``roles``), the
mail sender and its thread (``mail``), and the operator's commands over the event outbox (``operator``). It
depends on ports and use cases only; the composition root gives it adapters.
"""
