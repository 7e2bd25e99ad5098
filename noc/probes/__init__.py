"""Protocol adapters: each probe takes a target and options and returns a ``ProbeResult``.

They know nothing of the store, the scheduler or the console, and never import Textual.
"""

from noc.probes.result import ProbeResult, ProbeStatus

__all__ = ["ProbeResult", "ProbeStatus"]
