"""`teardown`: the confirmation prompt and bad input, before anything is contacted."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from openflow_autopilot.errors import BudgetExhausted
from openflow_autopilot_cli import main as cli
from openflow_autopilot_cli import teardown as cli_teardown
from openflow_autopilot_cli.teardown_workflow import (
    STEP_TITLES,
    StepName,
    StepStatus,
    TeardownReport,
    TeardownStep,
    Waiter,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "events" / "provision" / "request.yaml"


def request_file(tmp_path: Path, **changes: Any) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(leaf)
        else:
            node[leaf] = value
    path = tmp_path / "request.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class Recorder:
    """Stands in for the AWS/Snowflake/PostgreSQL side: records whether the teardown ran at all."""

    def __init__(self) -> None:
        self.accessed = 0
        self.ran: list[bool] = []

    def access(self, request: Any, args: Any) -> Any:
        self.accessed += 1
        return object()

    def run(self, request: Any, access: Any, *, drop_source: bool, on_step: Any) -> TeardownReport:
        self.ran.append(drop_source)
        steps = [
            TeardownStep(name=name, title=STEP_TITLES[name], status=StepStatus.ALREADY_GONE)
            for name in StepName
        ]
        for step in steps:
            on_step(step)
        return TeardownReport(
            request=request.name,
            deployment="SALES_CDC_DEPLOYMENT",
            region="ap-northeast-1",
            stack="openflow-sales-cdc-deployment-7bae4f61",
            drop_source_objects=drop_source,
            completed=True,
            steps=steps,
        )


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(cli_teardown, "_aws_access", rec.access)
    monkeypatch.setattr(cli_teardown, "run_teardown", rec.run)
    return rec


def run(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    args = cli.build_parser().parse_args(["teardown", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = cli_teardown.run_teardown_command(args, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_the_prompt_lists_everything_that_will_be_removed_in_order_and_no_changes_nothing(
    tmp_path: Path, recorder: Recorder
) -> None:
    code, out, _ = run(["-c", str(request_file(tmp_path))], stdin="n\n")

    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        "Teardown of 'sales-cdc': Openflow deployment SALES_CDC_DEPLOYMENT in ap-northeast-1. "
        "In this order, it will:"
    )
    expected = [
        "1. delete the EventBridge Scheduler schedules SALES_CDC_DEPLOYMENT-* in group "
        "openflow-autopilot-power",
        "2. stop the Openflow connector OPENFLOW.OPENFLOW.POSTGRES_CDC and wait until it is STOPPED",
        "3. run /home/ec2-user/destroy.sh on the deployment's agent instance",
        "4. wait until the Openflow deployment SALES_CDC_DEPLOYMENT is NOT_REPORTING",
        "5. delete the CloudFormation stack openflow-sales-cdc-deployment-7bae4f61 (ap-northeast-1)",
        "6. ALTER OPENFLOW DEPLOYMENT SALES_CDC_DEPLOYMENT TERMINATE",
        "7. keep the replication slot openflow_sales_cdc and the publication openflow_pub in PostgreSQL "
        "database sales (the WAL the slot holds keeps growing)",
    ]
    for line, start in zip(lines[1:8], expected, strict=True):
        assert line.strip().startswith(start), line
    assert lines[8] == "Proceed? [y/N] "
    assert lines[9] == "Not confirmed: nothing was changed."
    assert recorder.accessed == 0 and recorder.ran == []


@pytest.mark.parametrize("answer", ["", "\n", "N\n", "no\n", "maybe\n", "yes please\n"])
def test_anything_but_yes_is_no(tmp_path: Path, recorder: Recorder, answer: str) -> None:
    code, out, _ = run(["-c", str(request_file(tmp_path))], stdin=answer)
    assert code == 1 and "nothing was changed" in out
    assert recorder.accessed == 0


@pytest.mark.parametrize("answer", ["y\n", "Y\n", "yes\n", " YES \n"])
def test_yes_at_the_prompt_runs_the_teardown(tmp_path: Path, recorder: Recorder, answer: str) -> None:
    code, out, _ = run(["-c", str(request_file(tmp_path))], stdin=answer)
    assert code == 0
    assert recorder.ran == [False]
    assert "[1/7] remove the power schedules: already gone" in out
    assert "[7/7] source replication slot and publication: already gone" in out
    assert "Teardown complete: there was nothing left to remove." in out


def test_yes_flag_skips_the_question(tmp_path: Path, recorder: Recorder) -> None:
    code, out, _ = run(["-c", str(request_file(tmp_path)), "--yes", "--drop-source-objects"])
    assert code == 0 and recorder.ran == [True]
    assert "Proceed?" not in out


def test_with_json_the_question_goes_to_stderr_and_stdout_is_only_the_report(
    tmp_path: Path, recorder: Recorder
) -> None:
    code, out, err = run(["-c", str(request_file(tmp_path)), "--json"], stdin="n\n")
    assert code == 1 and out == ""
    assert "Proceed? [y/N]" in err and "nothing was changed" in err

    code, out, err = run(["-c", str(request_file(tmp_path)), "--json"], stdin="y\n")
    assert code == 0
    report = json.loads(out)
    assert [s["name"] for s in report["steps"]] == [n.value for n in StepName]


def test_drop_source_objects_says_what_will_be_dropped(tmp_path: Path, recorder: Recorder) -> None:
    _, out, _ = run(["-c", str(request_file(tmp_path)), "--drop-source-objects"], stdin="n\n")
    assert (
        "7. DROP the replication slot openflow_sales_cdc and the publication openflow_pub in PostgreSQL "
        "database sales" in out
    )


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"snowflake__admin_user": "x; DROP USER y"}, "snowflake.admin_user"),
        ({"source": None}, "source"),
        ({"source__publication": "Bad-Name"}, "source.publication"),
        ({"aws__region": "mars"}, "aws.region"),
        ({"openflow__generation": 1}, "openflow.generation"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_contacted(
    tmp_path: Path,
    recorder: Recorder,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
    named: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code = cli.main(["teardown", "-c", str(request_file(tmp_path, **changes)), "--yes"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("error: ") and named in captured.err
    assert captured.out == ""
    assert recorder.accessed == 0 and recorder.ran == []


def test_a_missing_or_unreadable_file_is_bad_input(
    tmp_path: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["teardown", "-c", str(tmp_path / "nope.yaml"), "--yes"]) == 2
    assert "cannot read request file" in capsys.readouterr().err
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    assert cli.main(["teardown", "-c", str(tmp_path / "broken.yaml"), "--yes"]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert recorder.accessed == 0


@pytest.mark.parametrize("flag", [["--poll-seconds", "0"], ["--timeout", "-1"]])
def test_bad_wait_options_are_bad_input(
    tmp_path: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    assert cli.main(["teardown", "-c", str(request_file(tmp_path)), "--yes", *flag]) == 2
    assert flag[0] in capsys.readouterr().err
    assert recorder.accessed == 0


def test_a_failed_step_is_reported_with_what_was_not_run_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(request: Any, access: Any, *, drop_source: bool, on_step: Any) -> TeardownReport:
        steps = [
            TeardownStep(name=StepName.SCHEDULES, title="remove the power schedules", status=StepStatus.DONE),
            TeardownStep(
                name=StepName.CONNECTOR,
                title="stop the connector",
                status=StepStatus.FAILED,
                details=["PermissionDenied: Snowflake refused"],
            ),
            *[
                TeardownStep(name=n, title=STEP_TITLES[n], status=StepStatus.NOT_RUN)
                for n in list(StepName)[2:]
            ],
        ]
        return TeardownReport(
            request="sales-cdc",
            deployment="SALES_CDC_DEPLOYMENT",
            region="ap-northeast-1",
            stack="openflow-sales-cdc-deployment-7bae4f61",
            drop_source_objects=False,
            completed=False,
            steps=steps,
            error="PermissionDenied: Snowflake refused",
        )

    monkeypatch.setattr(cli_teardown, "_aws_access", lambda request, args: object())
    monkeypatch.setattr(cli_teardown, "run_teardown", failing)
    code, out, _ = run(["-c", str(request_file(tmp_path)), "--yes"])
    assert code == 1
    assert "Teardown stopped: PermissionDenied: Snowflake refused" in out
    assert "Not run: run destroy.sh on the agent;" in out
    assert "run the same command again" in out


def test_a_wait_gives_up_at_its_budget() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    waiter = Waiter(first_delay=2, max_delay=5, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(BudgetExhausted, match="gave up after 20 s waiting for the thing"):
        waiter.until(lambda: None, timeout=20, waiting_for="the thing", fix="wait longer")
    assert slept == [2, 3, 4.5, 5, 5]
    assert waiter.until(lambda: "ok", timeout=1, waiting_for="x", fix="y") == "ok"


# --- the deployment step: TERMINATE goes DELETING -> DELETED (no TERMINATED deployment status) ------
class DeploymentSql:
    """SHOW/DESC OPENFLOW DEPLOYMENTS answered from a list of statuses, one per SHOW (the last repeats);
    None: the deployment is not in SHOW."""

    def __init__(self, *statuses: str | None, described: dict[str, Any] | None = None) -> None:
        self.statuses = list(statuses)
        self.described = described or {}
        self.executed: list[str] = []

    def query(self, statement: str) -> list[dict[str, Any]]:
        if statement.startswith("SHOW OPENFLOW DEPLOYMENTS"):
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return [] if status is None else [{"name": "SALES_CDC_DEPLOYMENT", "status": status}]
        if statement.startswith("DESC OPENFLOW DEPLOYMENT"):
            return [{"name": "SALES_CDC_DEPLOYMENT", "status": "DELETE_FAILED", **self.described}]
        raise AssertionError(statement)

    def execute(self, statement: str) -> None:
        self.executed.append(statement)


def _deployment_step(sql: DeploymentSql) -> TeardownStep:
    from contextlib import contextmanager

    from openflow_autopilot.config import parse_request
    from openflow_autopilot_cli.teardown_workflow import TeardownAccess, terminate_deployment

    @contextmanager
    def snowflake(role: str) -> Any:
        yield sql

    access = TeardownAccess(
        snowflake=snowflake,
        cloudformation=None,
        ec2=None,
        ssm=None,
        scheduler=None,
        source=None,  # type: ignore[arg-type]
        schedule_group="g",
        waiter=Waiter(first_delay=0, max_delay=0, sleep=lambda _s: None),
    )
    return terminate_deployment(parse_request(yaml.safe_load(EXAMPLE.read_text())), access)


TERMINATE = "ALTER OPENFLOW DEPLOYMENT SALES_CDC_DEPLOYMENT TERMINATE"


def test_terminate_waits_through_deleting_until_deleted() -> None:
    sql = DeploymentSql("NOT_REPORTING", "DELETING", "DELETING", "DELETED")
    step = _deployment_step(sql)
    assert step.status is StepStatus.DONE and sql.executed == [TERMINATE]
    assert step.details == ["deployment SALES_CDC_DEPLOYMENT was NOT_REPORTING, now DELETED"]


def test_a_deployment_that_disappears_from_show_counts_as_deleted() -> None:
    step = _deployment_step(DeploymentSql("NOT_REPORTING", "DELETING", None))
    assert step.status is StepStatus.DONE and step.details[0].endswith("now MISSING")


@pytest.mark.parametrize(("status", "what"), [("DELETED", "is DELETED"), (None, "does not exist")])
def test_a_deleted_or_missing_deployment_is_already_gone(status: str | None, what: str) -> None:
    sql = DeploymentSql(status)
    step = _deployment_step(sql)
    assert step.status is StepStatus.ALREADY_GONE and sql.executed == []
    assert step.details == [f"deployment SALES_CDC_DEPLOYMENT {what}"]


def test_a_deployment_already_deleting_is_waited_for_without_a_second_terminate() -> None:
    sql = DeploymentSql("DELETING", "DELETED")
    assert _deployment_step(sql).status is StepStatus.DONE and sql.executed == []


def test_delete_failed_stops_with_descs_reason_and_a_fix_and_a_rerun_terminates_again() -> None:
    from openflow_autopilot.errors import PreconditionFailed

    reason = {"error_code": "390400", "status_message": "network interfaces still attached"}
    sql = DeploymentSql("NOT_REPORTING", "DELETING", "DELETE_FAILED", described=reason)
    with pytest.raises(PreconditionFailed) as caught:
        _deployment_step(sql)
    assert caught.value.message == (
        "deployment SALES_CDC_DEPLOYMENT is DELETE_FAILED: error_code 390400; "
        "status_message network interfaces still attached"
    )
    assert "run teardown again: it issues the TERMINATE again" in (caught.value.fix or "")
    assert "DESC OPENFLOW DEPLOYMENT SALES_CDC_DEPLOYMENT" in (caught.value.fix or "")

    # the status may still read DELETE_FAILED right after the TERMINATE is issued again
    rerun = DeploymentSql("DELETE_FAILED", "DELETE_FAILED", "DELETING", "DELETED")
    assert _deployment_step(rerun).status is StepStatus.DONE and rerun.executed == [TERMINATE]


def test_the_plan_waits_for_deleted_and_never_names_terminated(tmp_path: Path, recorder: Recorder) -> None:
    _, out, _ = run(["-c", str(request_file(tmp_path))], stdin="n\n")
    assert "6. ALTER OPENFLOW DEPLOYMENT SALES_CDC_DEPLOYMENT TERMINATE and wait until it is DELETED" in out
    assert "TERMINATED" not in out


def test_the_documented_deployment_statuses_have_no_terminated() -> None:
    from openflow_autopilot.openflow.deployments import DEPLOYMENT_STATUSES

    assert {"DELETING", "DELETED", "DELETE_FAILED", "NOT_REPORTING"} <= DEPLOYMENT_STATUSES
    assert not {"TERMINATING", "TERMINATED"} & DEPLOYMENT_STATUSES
    assert len(DEPLOYMENT_STATUSES) == 13
