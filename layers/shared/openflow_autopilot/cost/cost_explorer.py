"""The AWS side of a measured month: Cost Explorer's UnblendedCost per service of what carries the
deployment's tag (CloudFormation propagates the stack's tags to its resources)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from openflow_autopilot.aws.calls import denied
from openflow_autopilot.core.tags import OWNER_TAG
from openflow_autopilot.cost.model import Usd
from openflow_autopilot.cost.period import Frozen, Period
from openflow_autopilot.errors import AwsRetryableError, InvalidRequest, PermissionDenied, PreconditionFailed

if TYPE_CHECKING:
    from mypy_boto3_ce import CostExplorerClient

# Cost Explorer is served from us-east-1 only (ce.us-east-1.amazonaws.com):
# https://docs.aws.amazon.com/general/latest/gr/billing.html
CE_REGION: Final = "us-east-1"
COST_TAG: Final = OWNER_TAG  # the stack carries it (phases/stack.py), and so do its resources
TAGS_DOC: Final = "https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/custom-tags.html"
CE_HISTORY_MONTHS: Final = 13  # before the current one (cost-management/latest/userguide/ce-enable.html)


class AwsCostRow(Frozen):
    service: str
    start: str
    end: str
    amount_usd: Usd
    estimated: bool


class AwsCost(Frozen):
    rows: list[AwsCostRow]
    account_usd: Usd | None = None  # the whole account's cost, read only when nothing is tagged


def cost_and_usage_request(period: Period, deployment: str) -> dict[str, Any]:
    """https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_GetCostAndUsage.html"""
    return {
        "TimePeriod": period.ce_time_period(),
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        "Filter": {"Tags": {"Key": COST_TAG, "Values": [deployment]}},
    }


_NOT_ENABLED_FIX: Final = (
    "enable Cost Explorer in the Billing and Cost Management console (Cost Explorer, then Launch Cost "
    "Explorer; https://docs.aws.amazon.com/cost-management/latest/userguide/ce-enable.html); its data "
    "appears within 24 hours"
)


def _ce_failure(exc: Any) -> Exception | None:
    """GetCostAndUsage's documented errors, and Cost Explorer not enabled for the account."""
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    call = "ce:GetCostAndUsage"
    if code == "DataUnavailableException" or (
        code == "AccessDeniedException" and "not enabled for cost explorer" in message.lower()
    ):
        return PreconditionFailed(
            f"Cost Explorer has no data for this account ({code})", call=call, fix=_NOT_ENABLED_FIX
        )
    if denied(exc):
        return PermissionDenied(
            f"Cost Explorer refused the caller ({code})",
            call=call,
            fix='allow ce:GetCostAndUsage (Resource "*") to your IAM identity',
        )
    if code == "LimitExceededException":
        return AwsRetryableError(
            "Cost Explorer is throttling the caller", call=call, fix="wait a minute and run the command again"
        )
    if code == "BillExpirationException":
        return InvalidRequest(
            "Cost Explorer no longer holds that month", call=call, fix="give a more recent --month"
        )
    return None


def _pages(ce: CostExplorerClient, request: dict[str, Any]) -> list[dict[str, Any]]:
    from botocore.exceptions import ClientError

    results: list[Any] = []  # ResultByTimeTypeDef, read by their documented keys
    token: str | None = None
    for _ in range(100):  # a month of services is one or two pages
        try:
            page_request: dict[str, Any] = {**request, **({"NextPageToken": token} if token else {})}
            page = ce.get_cost_and_usage(**page_request)
        except ClientError as exc:
            mapped = _ce_failure(exc)
            if mapped is None:
                raise
            raise mapped from None
        results += page.get("ResultsByTime") or []
        token = page.get("NextPageToken")
        if not token:
            return results
    raise PreconditionFailed("Cost Explorer kept returning pages", call="ce:GetCostAndUsage")


def _amount(metric: Mapping[str, Any] | None, service: str) -> Decimal:
    metric = metric or {}
    unit = str(metric.get("Unit") or "USD")
    if unit != "USD":
        raise PreconditionFailed(
            f"Cost Explorer reported {service} in {unit}, not USD",
            fix="the report compares US dollars; read the figures in the Billing console instead",
        )
    try:
        return Decimal(str(metric.get("Amount") or "0"))
    except InvalidOperation:
        raise PreconditionFailed(
            f"Cost Explorer returned an amount that is not a number for {service}"
        ) from None


def read_aws(ce: CostExplorerClient, period: Period, deployment: str) -> AwsCost:
    """UnblendedCost per service of the resources tagged with the deployment. Nothing tagged while the
    account has costs means the tag is not active for cost allocation: Cost Explorer only sees a tag
    once it is activated."""
    rows: list[AwsCostRow] = []
    for result in _pages(ce, cost_and_usage_request(period, deployment)):
        span = result.get("TimePeriod") or {}
        for group in result.get("Groups") or []:
            service = str((group.get("Keys") or ["?"])[0])
            rows.append(
                AwsCostRow(
                    service=service,
                    start=str(span.get("Start", "")),
                    end=str(span.get("End", "")),
                    amount_usd=_amount((group.get("Metrics") or {}).get("UnblendedCost"), service),
                    estimated=bool(result.get("Estimated", False)),
                )
            )
    if rows:
        return AwsCost(rows=rows)
    whole_account = {
        "TimePeriod": period.ce_time_period(),
        "Granularity": "MONTHLY",
        "Metrics": ["UnblendedCost"],
    }
    totals = _pages(ce, whole_account)
    account = sum(
        (_amount((r.get("Total") or {}).get("UnblendedCost"), "the account") for r in totals), Decimal(0)
    )
    if account > 0:
        raise PreconditionFailed(
            f"Cost Explorer shows ${account:.2f} of costs for the account in {period.label} but none "
            f"tagged {COST_TAG} = {deployment}",
            call="ce:GetCostAndUsage",
            fix=f"activate {COST_TAG} in Billing and Cost Management > Cost allocation tags, user-defined "
            f"tags (in the organization's management account; {TAGS_DOC}); it takes up to 24 hours to show",
        )
    return AwsCost(rows=[], account_usd=account)
