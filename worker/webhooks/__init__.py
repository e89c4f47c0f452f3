"""Signed webhooks announcing a submission's final state (Standard Webhooks headers), through an outbox.

One module per concern: ``secret`` (the key's form), ``addresses`` (which targets may be reached), ``signing``
(the headers), ``outbox`` (:func:`~worker.webhooks.outbox.enqueue`, in the caller's transaction), ``backoff``
(when to try again), ``send`` (one guarded HTTP POST), ``deliver`` (claim, attempt, record, rediscover) and
``report`` (the operator's view). Details: docs/webhooks.md.
"""
