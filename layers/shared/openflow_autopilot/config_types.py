"""The building blocks every section of the provisioning request shares: the strict base model
(unknown keys refused, frozen, whitespace stripped) and the validated field types (Snowflake
names, Secrets Manager ARNs, strict integers, the roles and user the workflow manages, HH:MM
times). They live apart from config.py so the request's sections (config_runtime,
config_schedule, config_monitoring) and the request model itself validate alike without
importing each other.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from openflow_autopilot import request_rules as rules
from openflow_autopilot.snowflake.identifiers import IdentifierError, check_identifier

# a secret's name: letters, digits and /_+=.@-; `rds!` starts the RDS-managed master secrets
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:(?:rds!)?[A-Za-z0-9/_+=.@-]+$"
)
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _snowflake_ident(value: str) -> str:
    try:
        return check_identifier(value, "name")
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None


def _secret_arn(value: str) -> str:
    if not _SECRET_ARN.match(value):
        raise ValueError(
            "must be a Secrets Manager ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>); "
            "put the secret in Secrets Manager and reference it here, never inline it"
        )
    return value


SnowflakeName = Annotated[str, AfterValidator(_snowflake_ident)]
# A secret under the prefix the functions may read (SecretsPrefix); the master secret may also be
# the RDS-managed one (rds!...), which the template grants to the functions that read it.
SecretArn = Annotated[str, AfterValidator(_secret_arn), AfterValidator(rules.granted_secret)]
MasterSecretArn = Annotated[str, AfterValidator(_secret_arn), AfterValidator(rules.master_secret)]
# Integers are strict: `true` is not 1 and "5432" is not a number.
Int = Annotated[int, BeforeValidator(rules.strict_int)]
# Roles and a user the workflow creates and grants: never a system role or user.
AdminRole = Annotated[SnowflakeName, AfterValidator(rules.admin_role)]
ServiceRole = Annotated[SnowflakeName, AfterValidator(rules.service_role)]
RuntimeRole = Annotated[SnowflakeName, AfterValidator(rules.runtime_role)]
ServiceUser = Annotated[SnowflakeName, AfterValidator(rules.not_system_user)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
