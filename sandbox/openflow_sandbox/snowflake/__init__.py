"""Snowflake for the sandbox: the real connector talks to an in-process server that answers
account-level and Openflow statements from an emulated account and passes data SQL to fakesnow."""

from .emulator import SnowflakeEmulator, StatementRecord
from .errors import LoginError, SqlError
from .faults import FaultKind
from .state import AccountState

__all__ = ["AccountState", "FaultKind", "LoginError", "SnowflakeEmulator", "SqlError", "StatementRecord"]
