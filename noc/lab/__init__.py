"""The lab: simulated devices on loopback for the demo, the tests and the benchmarks.

SNMP agents, SSH hosts, web sites and TCP services, each with a scenario (healthy, down,
flapping, slow, loss, disk filling, CPU pegged, interface errors, reboots).
"""

from noc.lab.model import LabDevice, Scenario
from noc.lab.runner import Lab, LabCredentials, start_lab

__all__ = ["Lab", "LabCredentials", "LabDevice", "Scenario", "start_lab"]
