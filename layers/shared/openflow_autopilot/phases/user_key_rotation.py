"""The service user's key rotation in Snowflake and Secrets Manager (`rotate_service_user_key`;
phases/key_rotation.py drives it together with the connector's copy of the key). Key rotation uses
the user's second key slot so that, at every step, the key in the secret is one Snowflake accepts:
set RSA_PUBLIC_KEY_2 = new, store the new key, then move it to RSA_PUBLIC_KEY and unset
RSA_PUBLIC_KEY_2. Stopping after the store (retire_old_key=False) keeps the old key valid too, for
consumers that have not re-read the secret yet; the next call finishes the move. The gen 2
connector holds a copy of the key in a Snowflake secret, so a rotation with a running connector is:
rotate(retire_old_key=False) -> ensure_connector (replaces that copy) -> rotate().
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from openflow_autopilot.aws.secret_owner import check_secret_owner
from openflow_autopilot.config import ProvisionRequest
from openflow_autopilot.core.recorder import Recorder
from openflow_autopilot.core.results import PhaseResult, utcnow
from openflow_autopilot.errors import PreconditionFailed
from openflow_autopilot.phases.destination import _key_fingerprints, _set_key_statement
from openflow_autopilot.phases.service_key import generate_service_key, read_service_key, store_service_key
from openflow_autopilot.snowflake.identifiers import qualified
from openflow_autopilot.snowflake.session import Sql

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


def rotate_service_user_key(
    sql: Sql,
    request: ProvisionRequest,
    *,
    secrets: SecretsManagerClient,
    secret_name: str,
    retire_old_key: bool = True,
    encrypt_private_key: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> PhaseResult:
    """Replace the service user's key without a moment where the stored key is refused.

    Steps (each re-entrant; the state read at the start says where a previous run stopped):
    1. ALTER USER ... SET RSA_PUBLIC_KEY_2 = <new>      (old and new accepted; secret: old)
    2. store the new key as a new secret version       (secret: new, accepted as key 2)
    3. ALTER USER ... SET RSA_PUBLIC_KEY = <new>        (secret: new, accepted as key 1)
    4. ALTER USER ... UNSET RSA_PUBLIC_KEY_2            (only the new key remains)
    With retire_old_key=False the run stops after step 2, so clients still holding the old key keep
    working; a later call does steps 3 and 4. `on_step(name)` is called after each step.
    """
    started = utcnow()
    user = qualified(request.destination.service_user)
    rec = Recorder(sql, apply=True)
    check_secret_owner(secrets, secret_name, request.openflow.deployment_name)
    stored = read_service_key(secrets, secret_name)
    if stored.key is None or stored.arn is None:
        raise PreconditionFailed(
            f"no usable key for {user} in {secret_name}" + (f" ({stored.problem})" if stored.problem else ""),
            fix="run the destination phase first; it creates the user's key",
        )
    fp1, fp2 = _key_fingerprints(sql, user)
    current = stored.key

    def step(name: str) -> None:
        if on_step is not None:
            on_step(name)

    if current.fingerprint not in (fp1, fp2):
        raise PreconditionFailed(
            f"the key in {secret_name} ({current.fingerprint}) is not one of {user}'s keys ({fp1}, {fp2})",
            fix="run the destination phase, which sets the stored key on the user, then rotate",
        )
    new = current
    if fp1 == fp2 == current.fingerprint:  # stopped between steps 3 and 4
        rec.do("unset_public_key_2", user, f"ALTER USER {user} UNSET RSA_PUBLIC_KEY_2")
        step("unset_rsa_public_key_2")
        rec.notes.append("finished a rotation that had stopped before RSA_PUBLIC_KEY_2 was unset")
        return rec.result(
            "ServiceUserKeyRotation",
            started,
            {
                "user": user,
                "key_secret_arn": stored.arn,
                "key_fingerprint": new.fingerprint,
                "finished": True,
            },
        )
    if current.fingerprint == fp1:  # start a rotation
        new = generate_service_key(current.user, encrypt=encrypt_private_key)
        statement, shown = _set_key_statement(user, "RSA_PUBLIC_KEY_2", new)
        rec.do("set_public_key_2", user, statement, shown=shown)
        step("set_rsa_public_key_2")
        store_service_key(secrets, secret_name, new, exists=True, deployment=request.openflow.deployment_name)
        rec.record(
            "store_private_key",
            secret_name,
            f"secretsmanager:PutSecretValue (new AWSCURRENT version, fingerprint {new.fingerprint})",
        )
        step("stored_new_key")
        rec.notes.append(f"the previous private key remains in {secret_name} as version stage AWSPREVIOUS")
    else:
        rec.notes.append(
            f"resuming a rotation: the stored key {current.fingerprint} is {user}'s RSA_PUBLIC_KEY_2"
        )
    if retire_old_key:
        statement, shown = _set_key_statement(user, "RSA_PUBLIC_KEY", new)
        rec.do("set_public_key", user, statement, shown=shown)
        step("set_rsa_public_key")
        rec.do("unset_public_key_2", user, f"ALTER USER {user} UNSET RSA_PUBLIC_KEY_2")
        step("unset_rsa_public_key_2")
    else:
        rec.notes.append(
            f"the old key ({fp1}) stays valid as RSA_PUBLIC_KEY until the rotation is finished "
            "(call again with retire_old_key=True)"
        )
    return rec.result(
        "ServiceUserKeyRotation",
        started,
        {
            "user": user,
            "key_secret_arn": stored.arn,
            "key_fingerprint": new.fingerprint,
            "finished": retire_old_key,
        },
    )
