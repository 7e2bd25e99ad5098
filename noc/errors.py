"""The exceptions noc raises on purpose.

Everything a user can cause (a bad file, a missing secret, a database that will not open) is a
``NocError`` whose message is already the one line the CLI prints; anything else is a bug.

    NocError
    ├── ConfigError        a setting in a file or the environment is wrong
    ├── InventoryError     an inventory file is malformed or inconsistent (file:line: field: why)
    ├── SecretError        a credential's secret reference cannot be resolved
    ├── StoreError         the database cannot be opened, migrated or written
    └── each package's own, raised where it knows the words for the problem:
        PsaError (noc.psa), AlertingError, ThresholdError, DurationError (noc.alerting),
        NotifyError (noc.notify), SshError, SnmpError, IcmpUnavailableError (noc.probes),
        ProbeUnavailable (noc.polling), LabError (noc.lab), NotFound (noc.cli.lookup),
        FilterError (noc.devicefilter), DialogError (noc.screens.dialogs)
"""

from __future__ import annotations


class NocError(Exception):
    """A failure the user can fix; ``str()`` is the whole message."""


class ConfigError(NocError):
    pass


class InventoryError(NocError):
    pass


class SecretError(NocError):
    pass


class StoreError(NocError):
    pass
