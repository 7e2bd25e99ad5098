"""noc: monitoring (RMM) and service desk (PSA) for an MSP's NOC, in one terminal program."""

__version__ = "0.1.0"
