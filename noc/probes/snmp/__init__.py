"""The SNMP probe: v1, v2c and v3 agents read through one shared set of pysnmp engines.

    async with SnmpPoller() as poller:
        result = await poller.poll(SnmpTarget("127.0.0.1", community="public"))
        result.values["sys.descr"], result.values.get("if.2.in_bps")

``poll`` returns a ``ProbeResult`` and never raises; ``poll_detail`` adds the ``SnmpSnapshot``
(interfaces, filesystems, memory, CPUs) the device detail shows; ``get`` reads raw OIDs for custom
checks and raises ``SnmpError``. ``SnmpWorkerPool`` spreads polls over worker processes when one
core cannot keep up (``open_snmp(workers)`` picks one or the other). ``target_from_params`` builds
a target from a credential profile and a check, naming the field at fault.
"""

from noc.probes.snmp.errors import (
    SnmpAgentError,
    SnmpAuthError,
    SnmpConfigError,
    SnmpError,
    SnmpTimeout,
)
from noc.probes.snmp.mibs import IfStatus, StorageKind
from noc.probes.snmp.model import (
    Interface,
    Memory,
    SnmpPoll,
    SnmpSnapshot,
    Storage,
    SystemInfo,
    VendorInfo,
)
from noc.probes.snmp.params import target_from_params
from noc.probes.snmp.poller import SnmpPoller, SnmpValue
from noc.probes.snmp.pool import SnmpWorkerPool
from noc.probes.snmp.probe import SnmpProber, open_snmp
from noc.probes.snmp.target import (
    ALL_COLLECT,
    AuthProtocol,
    Collect,
    PrivProtocol,
    SecurityLevel,
    SnmpTarget,
    SnmpVersion,
)

__all__ = [
    "ALL_COLLECT",
    "AuthProtocol",
    "Collect",
    "IfStatus",
    "Interface",
    "Memory",
    "PrivProtocol",
    "SecurityLevel",
    "SnmpAgentError",
    "SnmpAuthError",
    "SnmpConfigError",
    "SnmpError",
    "SnmpPoll",
    "SnmpPoller",
    "SnmpProber",
    "SnmpSnapshot",
    "SnmpTarget",
    "SnmpTimeout",
    "SnmpValue",
    "SnmpVersion",
    "SnmpWorkerPool",
    "Storage",
    "StorageKind",
    "SystemInfo",
    "VendorInfo",
    "open_snmp",
    "target_from_params",
]
