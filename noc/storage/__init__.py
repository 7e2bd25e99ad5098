"""Persistence: the SQLAlchemy models, the engine set-up, migrations and the ``Store`` API."""

from noc.storage.store import EventRecord, Store

__all__ = ["EventRecord", "Store"]
