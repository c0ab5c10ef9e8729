"""`openflow-autopilot source doctor|prepare`: check and prepare any PostgreSQL source, RDS or not.

The main CLI calls `register(subparsers)` and then `args.func(args)`, which returns the exit
code:

  doctor   0 no blocking findings · 1 blocking findings · 2 cannot connect or invalid input
  prepare  0 prepared and replication proven · 1 blocking findings, a precondition or a missing
           privilege (nothing changed) · 2 cannot connect or invalid input · 3 prepared, but the
           replication proof did not see a change

The connector's password is never printed. `prepare` takes it from an environment variable
(`--password-env VAR`) or a file (`--password-file PATH`): an existing file is read; a missing
one is created with mode 0600 holding a newly generated password, which is then applied to the
role. Either way the user can hand the same secret to the connector later.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import stat
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openflow_autopilot.errors import (
    AutopilotError,
    InvalidRequest,
    PermissionDenied,
    PreconditionFailed,
)
from openflow_autopilot.postgres.connection import Connection, connect, describe_target, with_credentials
from openflow_autopilot.postgres.doctor import run_doctor
from openflow_autopilot.postgres.models import DoctorReport, PrepareResult, ReplicationProof
from openflow_autopilot.postgres.names import (
    TableName,
    parse_identifier,
    parse_role_name,
    parse_table_list,
    parse_table_name,
    split_table_list,
)
from openflow_autopilot.postgres.prepare import prepare_source
from openflow_autopilot.postgres.proof import first_touchable, prove_replication, touch_row
from openflow_autopilot.postgres.role_guard import check_replication_user, read_facts

OK, BLOCKING, CANNOT_RUN, PROOF_FAILED = 0, 1, 2, 3

_EXIT_CODES = """\
exit codes:
  0  no blocking findings{prepared}
  1  blocking findings (nothing was changed){precondition}
  2  cannot connect, or invalid input{proof}
"""
_DSN_HELP = (
    "libpq connection string or URI, e.g. postgresql://admin@db.example.com:5432/app; keep the password "
    "out of it (PGPASSWORD or ~/.pgpass)"
)


# --- output -------------------------------------------------------------------------------------
class _Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def error(self, exc: AutopilotError, code: int) -> int:
        if self.as_json:
            print(json.dumps({"error": type(exc).__name__, "message": str(exc), "exit_code": code}, indent=2))
        else:
            print(f"error: {exc}", file=sys.stderr)
        return code


def _server_line(report: DoctorReport) -> str:
    s = report.server
    kind = "RDS" if s.is_rds else "not RDS"
    keep = s.max_slot_wal_keep_size_mb
    keep_text = (
        "" if keep is None else f" · max_slot_wal_keep_size {'unlimited' if keep == -1 else f'{keep} MB'}"
    )
    return (
        f"PostgreSQL {s.version} ({kind}), database {s.database} as {s.user}\n"
        f"wal_level {s.wal_level} · replication slots {s.replication_slots_used}/{s.max_replication_slots} "
        f"used · WAL senders {s.wal_senders_used}/{s.max_wal_senders} used{keep_text}"
    )


def _print_findings(report: DoctorReport, *, details: bool = True) -> None:
    for f in report.findings:
        label = "BLOCKING" if f.severity == "blocking" else "WARNING "
        print(f"{label} {f.id}" + (f": {f.subject}" if f.subject else ""))
        if details or f.severity == "blocking":
            print(f"  evidence: {f.evidence}")
            print(f"  fix:      {f.fix}")


def _print_doctor(report: DoctorReport) -> None:
    print(_server_line(report))
    print(f"Tables checked: {len(report.tables)}")
    if report.findings:
        print()
        _print_findings(report)
        print()
    if report.ok:
        print(f"No blocking findings ({report.warnings} warning(s)).")
    else:
        print(
            f"{report.blocking} blocking finding(s), {report.warnings} warning(s): "
            "fix the blocking ones and re-run."
        )


# --- shared parsing ------------------------------------------------------------------------------
def _tables(values: Sequence[str]) -> list[TableName]:
    items = [item for value in values for item in split_table_list(value, "--tables")]
    return parse_table_list(items, "--tables")


# --- doctor --------------------------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    out = _Output(args.json)
    try:
        tables = _tables(args.tables)
        with connect(args.dsn) as conn:
            report = run_doctor(conn, tables, connector_slot=args.connector_slot)
    except AutopilotError as exc:
        return out.error(exc, CANNOT_RUN)
    if args.json:
        print(json.dumps({"target": describe_target(args.dsn), **report.model_dump(mode="json")}, indent=2))
    else:
        _print_doctor(report)
    return OK if report.ok else BLOCKING


# --- prepare -------------------------------------------------------------------------------------
@dataclass
class _Password:
    source: str  # "env" or "file"
    location: str  # the variable name or the file path
    value: str | None = None
    generated: bool = False

    def describe(self) -> str:
        if self.source == "env":
            return f"from environment variable {self.location}"
        return f"{'generated and written to' if self.generated else 'read from'} {self.location}"

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "location": self.location, "generated": self.generated}


def _password_from_env(name: str, *, required: bool) -> _Password:
    value = os.environ.get(name)
    if not value and required:
        raise InvalidRequest(
            f"--password-env: environment variable {name} is not set or empty",
            fix=f"export {name}=<password>, or use --password-file PATH to have one generated",
        )
    return _Password("env", name, value or None)


def _password_from_file(path: Path, *, create: bool) -> _Password:
    if path.exists():
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"warning: {path} is readable by other users; run chmod 600 {path}", file=sys.stderr)
        value = path.read_text().rstrip("\r\n")
        if not value:
            raise InvalidRequest(
                f"--password-file: {path} is empty", fix="delete it to have a password generated"
            )
        return _Password("file", str(path), value)
    if not create:
        return _Password("file", str(path))
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise InvalidRequest(f"--password-file: cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return _Password("file", str(path), value, generated=True)


def _prove(
    admin: Connection, args: argparse.Namespace, user: str, password: _Password, tables: list[TableName]
) -> tuple[ReplicationProof | None, str | None]:
    """Run the replication proof; return (proof, None) or (None, why it could not be run)."""
    table = parse_table_name(args.proof_table, "--proof-table") if args.proof_table else None
    if table is not None and table not in tables:
        return None, f"--proof-table {table} is not one of --tables, so its changes are not published"
    table = table or first_touchable(admin, tables)
    if table is None:
        return None, (
            "all requested tables are empty, so no row could be touched to produce a change; insert a row "
            "into one of them and re-run (re-running is safe), or pass --no-proof"
        )
    assert password.value is not None
    try:
        with connect(with_credentials(args.dsn, user, password.value)) as connector:
            proof = prove_replication(admin, connector, publication=args.publication, change=touch_row(table))
    except PermissionDenied as exc:
        hint = ""
        if not (args.update_password or password.generated):
            hint = f" If role {user} existed before, its password was not changed: add --update-password."
        return None, f"{exc}{hint}"
    except AutopilotError as exc:
        return None, str(exc)
    return proof, None


def _confirm_narrowing(
    conn: Connection, args: argparse.Namespace, tables: list[TableName], user: str
) -> None:
    """--exact drops the publication's other members: they are shown first, and dropped only after
    --yes or a confirmation at the terminal."""
    plan = prepare_source(
        conn,
        tables=tables,
        publication=args.publication,
        user=user,
        plan_only=True,
        use_existing=args.use_existing_role,
        exact=False,
    )
    if not plan.kept_tables:
        return
    print(
        f"--exact removes {len(plan.kept_tables)} member(s) from publication {plan.publication} that "
        f"--tables does not list: {', '.join(plan.kept_tables)}",
        file=sys.stderr,
    )
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise InvalidRequest(
            "--exact would remove the members listed above and nobody confirmed it; nothing was changed",
            fix="add --yes if no one else uses the publication, or drop --exact to keep them",
        )
    if input("Remove them? [y/N] ").strip().lower() not in ("y", "yes"):
        raise InvalidRequest("--exact: not confirmed; nothing was changed", fix="drop --exact to keep them")


def cmd_prepare(args: argparse.Namespace) -> int:
    out = _Output(args.json)
    try:
        tables = _tables(args.tables)
        parse_identifier(args.publication, "--publication")  # validate early; the steps parse it again
        user = parse_role_name(args.user, "--user")
        if args.password_env:
            password = _password_from_env(args.password_env, required=not args.plan)
        else:
            password = _password_from_file(Path(args.password_file), create=False)
        conn = connect(args.dsn)
    except AutopilotError as exc:
        return out.error(exc, CANNOT_RUN)
    with conn:
        try:
            report = run_doctor(conn, tables)
        except AutopilotError as exc:
            return out.error(exc, CANNOT_RUN)
        if not report.ok:
            if args.json:
                print(json.dumps({"doctor": report.model_dump(mode="json"), "exit_code": BLOCKING}, indent=2))
            else:
                _print_doctor(report)
                print("Nothing was changed.")
            return BLOCKING
        try:
            # the role is checked before a password file is written: a refused run leaves nothing behind
            generate = password.source == "file" and password.value is None and not args.plan
            if generate and args.use_existing_role:
                raise InvalidRequest(
                    f"--password-file: {password.location} does not exist; with --use-existing-role the "
                    "role's own password is needed (it is never changed)",
                    fix="write it to that file (mode 0600) or pass --password-env VAR",
                )
            check_replication_user(
                read_facts(conn, user),
                user,
                use_existing=args.use_existing_role,
                set_password=args.update_password or generate,
            )
            if args.exact and not args.plan:
                _confirm_narrowing(conn, args, tables, user)
            if generate:
                password = _password_from_file(Path(password.location), create=True)
            result = prepare_source(
                conn,
                tables=tables,
                publication=args.publication,
                user=args.user,
                password=password.value,
                update_password=args.update_password or password.generated,
                plan_only=args.plan,
                report=report,
                use_existing=args.use_existing_role,
                exact=args.exact,
            )
        except (PreconditionFailed, PermissionDenied) as exc:
            return out.error(exc, BLOCKING)
        except AutopilotError as exc:
            return out.error(exc, CANNOT_RUN)
        proof, proof_error = None, None
        if not args.plan and not args.no_proof:
            proof, proof_error = _prove(conn, args, user, password, tables)
    code = PROOF_FAILED if proof_error or (proof is not None and not proof.ok) else OK
    if args.json:
        payload = {
            "target": describe_target(args.dsn),
            "doctor": report.model_dump(mode="json"),
            "prepare": result.model_dump(mode="json"),
            "password": password.as_dict(),
            "proof": proof.model_dump(mode="json") if proof else None,
            "proof_error": proof_error,
            "exit_code": code,
        }
        print(json.dumps(payload, indent=2))
    else:
        _print_prepare(report, result, password, proof, proof_error, args)
    return code


def _print_prepare(
    report: DoctorReport,
    result: PrepareResult,
    password: _Password,
    proof: ReplicationProof | None,
    proof_error: str | None,
    args: argparse.Namespace,
) -> None:
    print(_server_line(report))
    print(f"Doctor: no blocking findings, {report.warnings} warning(s)")
    _print_findings(report, details=False)
    if password.generated:
        print(f"Password: generated for role {result.user} and written to {password.location} (mode 0600).")
    verb = "Planned actions (nothing changed)" if result.planned else "Actions"
    if result.actions:
        print(f"{verb}:")
        for action in result.actions:
            print(f"  - {action}")
    else:
        print("No changes needed: the source is already prepared.")
    if result.kept_tables:
        print(
            f"Kept in publication {result.publication} (not in --tables; it may be shared, --exact removes "
            f"them): {', '.join(result.kept_tables)}"
        )
    if proof is not None:
        print(f"Replication proof: {'OK' if proof.ok else 'FAILED'}: {proof.message}")
    elif proof_error:
        print(f"Replication proof: NOT DONE: {proof_error}")
    if not result.planned:
        print(
            f"Connector settings: user {result.user}, publication {result.publication}, "
            f"password {password.describe()}"
        )


# --- wiring --------------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `source doctor` and `source prepare`; each sets `func(args) -> int` (the exit code)."""
    source = subparsers.add_parser(
        "source",
        help="check and prepare the PostgreSQL source (RDS or not)",
        description="Check (doctor) and prepare a PostgreSQL database for the Openflow CDC connector.",
    )
    commands = source.add_subparsers(dest="source_command", required=True, metavar="{doctor,prepare}")
    raw = argparse.RawDescriptionHelpFormatter

    doctor = commands.add_parser(
        "doctor",
        help="read-only pre-flight checks",
        description="Read-only checks: version, wal_level, slots and WAL senders, tables and their keys, "
        "open and prepared transactions, inactive slots. Changes nothing.",
        epilog=_EXIT_CODES.format(prepared="", precondition="", proof=""),
        formatter_class=raw,
    )
    _add_common(doctor)
    doctor.add_argument("--connector-slot", help="the connector's replication slot, if it already exists")
    doctor.set_defaults(func=cmd_doctor)

    prepare = commands.add_parser(
        "prepare",
        help="create the connector's user, publication and grants, then prove replication",
        description="Run the doctor; if nothing blocks, ensure the connector role (with REPLICATION, or "
        "rds_replication on RDS), the publication with exactly --tables, USAGE and SELECT grants; then, as "
        "the connector role, create a temporary pgoutput slot, see a no-op UPDATE of one row, and drop it. "
        "Re-running changes nothing.",
        epilog=_EXIT_CODES.format(
            prepared=", prepared and replication proven",
            precondition=", or a precondition / missing privilege",
            proof="\n  3  prepared, but the replication proof did not see a change",
        ),
        formatter_class=raw,
    )
    _add_common(prepare)
    prepare.add_argument("--publication", required=True, help="publication name, e.g. openflow_pub")
    prepare.add_argument("--user", required=True, help="connector role name, e.g. openflow_user")
    secret = prepare.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password-env", metavar="VAR", help="read the connector's password from $VAR")
    secret.add_argument(
        "--password-file",
        metavar="PATH",
        help="read the password from PATH; if it does not exist, generate one and write it there (mode 0600)",
    )
    prepare.add_argument(
        "--update-password", action="store_true", help="set the password even if the role already exists"
    )
    prepare.add_argument(
        "--use-existing-role",
        action="store_true",
        help="--user names a role that already exists and was not created by this tool: use it as it is "
        "(its password is never changed; pass it with --password-env or an existing --password-file)",
    )
    prepare.add_argument(
        "--exact",
        action="store_true",
        help="also remove the publication's members that --tables does not list (shown first; asks, or "
        "--yes); without it an existing, possibly shared, publication is never narrowed",
    )
    prepare.add_argument("--yes", action="store_true", help="with --exact: remove them without asking")
    prepare.add_argument("--plan", action="store_true", help="show the actions without changing anything")
    prepare.add_argument("--proof-table", metavar="TABLE", help="table whose row the proof touches")
    prepare.add_argument("--no-proof", action="store_true", help="skip the replication proof")
    prepare.set_defaults(func=cmd_prepare)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", required=True, help=_DSN_HELP)
    parser.add_argument(
        "--tables",
        required=True,
        action="append",
        metavar="T[,T...]",
        help='schema.table or table (schema public); quote other names: \'"My Schema"."Order-Items"\'',
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: `python -m openflow_autopilot_cli.source source doctor ...`."""
    parser = argparse.ArgumentParser(prog="openflow-autopilot")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
