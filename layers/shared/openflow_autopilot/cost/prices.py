"""The price table: data, not code. `prices/default.json` holds the seed's prices; a user file
(YAML or JSON) is merged over it to change the region's prices, instance prices or the credit price.

Each component says what stops it: `runtime` (the runtime's node group and the Openflow service
credits), `agent` (the agent instance, only when the schedule opts in) or `always` (never saved).

Merge rules for a user file: top-level values replace the default's; `instance_prices_usd_per_hour`,
`exchange_rates` and `runtime_sizes` merge key by key; `components` is a mapping (or a list of
objects with `key`) whose fields update the default component of that key, a new key adds a
component, and `null` removes one.
"""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from openflow_autopilot.errors import InvalidRequest

# runtime: stops with the runtime; agent: with schedule.stop_agent or deep sleep; deep_sleep: only
# when the whole data plane sleeps (schedule.sleep: deep); always: never stops.
StopsWith = Literal["runtime", "agent", "deep_sleep", "always"]
Money = Annotated[Decimal, Field(ge=0, le=1_000_000_000)]  # bounded: the report quantizes to cents


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Component(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    stops_with: StopsWith
    note: str | None = None


class CreditsPerHour(_Component):
    """Snowflake credits per hour of running (the Openflow service, per runtime vCPU)."""

    kind: Literal["credits_per_hour"]
    credits_per_hour: Money
    quantity: Money = Decimal(1)
    unit: str = "vCPU"


class Instance(_Component):
    """An EC2 instance priced from `instance_prices_usd_per_hour`."""

    kind: Literal["instance"]
    instance_type: str
    count: int = Field(1, ge=1)


class Hourly(_Component):
    """A per-hour charge, optionally with a per-GB volume (NAT gateway: hourly + data processed)."""

    kind: Literal["hourly"]
    usd_per_hour: Money
    usd_per_gb: Money | None = None
    gb_per_month: Money = Decimal(0)


class Volume(_Component):
    """A monthly volume in USD per GB (S3)."""

    kind: Literal["volume"]
    usd_per_gb: Money
    gb_per_month: Money


class CreditsPerGb(_Component):
    """A monthly volume in credits per GB (Snowpipe Streaming ingestion, telemetry)."""

    kind: Literal["credits_per_gb"]
    credits_per_gb: Money
    gb_per_month: Money


Component = Annotated[CreditsPerHour | Instance | Hourly | Volume | CreditsPerGb, Field(discriminator="kind")]


# Snowflake's list prices per credit are a few dollars (https://www.snowflake.com/pricing/); a hundred
# is a generous ceiling that still catches a price given in cents or in another currency.
MAX_CREDIT_PRICE_USD: Final = Decimal(100)


class ExchangeRate(_Strict):
    # No currency trades above a million units per dollar; a larger value is a typo, and past about
    # 1e26 the report's arithmetic (28 significant digits) cannot hold the product at all.
    per_usd: Annotated[Decimal, Field(gt=0, le=1_000_000, allow_inf_nan=False)]
    symbol: str


class RuntimeSize(_Strict):
    instance_type: str
    vcpus: Annotated[Decimal, Field(gt=0)]


class PriceTable(_Strict):
    description: str = ""
    region: str
    credit_price_usd: Annotated[Decimal, Field(gt=0, le=MAX_CREDIT_PRICE_USD, allow_inf_nan=False)]
    hours_per_day: int = Field(24, ge=1, le=24)
    days_per_month: int = Field(30, ge=28, le=31)
    exchange_rates: dict[str, ExchangeRate] = Field(default_factory=dict)
    instance_prices_usd_per_hour: dict[str, Money]
    instance_price_notes: dict[str, str] = Field(default_factory=dict)
    runtime_sizes: dict[str, RuntimeSize] = Field(default_factory=dict)
    components: list[Component]

    @model_validator(mode="after")
    def _consistent(self) -> PriceTable:
        keys = [c.key for c in self.components]
        if len(set(keys)) != len(keys):
            raise ValueError(f"components: a key is used twice: {keys}")
        for c in self.components:
            if isinstance(c, Instance) and c.instance_type not in self.instance_prices_usd_per_hour:
                raise ValueError(
                    f"components.{c.key}: no price for instance type {c.instance_type}; add it under "
                    "instance_prices_usd_per_hour"
                )
        for size, spec in self.runtime_sizes.items():
            if spec.instance_type not in self.instance_prices_usd_per_hour:
                raise ValueError(
                    f"runtime_sizes.{size}: no price for instance type {spec.instance_type}; add it under "
                    "instance_prices_usd_per_hour"
                )
        return self

    @property
    def hours_per_month(self) -> Decimal:
        return Decimal(self.hours_per_day * self.days_per_month)

    def instance_price(self, instance_type: str) -> Decimal:
        return self.instance_prices_usd_per_hour[instance_type]


# --- loading and merging --------------------------------------------------------------------
def _default_data() -> dict[str, Any]:
    text = resources.files("openflow_autopilot.cost").joinpath("prices/default.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return data


def _decimals(value: Any) -> Any:
    """YAML gives floats; go through their shortest text so 0.062 stays 0.062."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def merge_prices(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge a user price file (raw mapping) over a base table (raw mapping); see the module doc."""
    merged = dict(base)
    for key, value in override.items():
        if key in {"instance_prices_usd_per_hour", "instance_price_notes", "exchange_rates", "runtime_sizes"}:
            if not isinstance(value, dict):
                raise InvalidRequest(f"prices: {key} must be a mapping")
            merged[key] = {**base.get(key, {}), **value}
        elif key == "components":
            merged[key] = _merge_components(base.get("components", []), value)
        else:
            merged[key] = value
    return merged


def _merge_components(base: list[dict[str, Any]], override: Any) -> list[dict[str, Any]]:
    if isinstance(override, list):
        if not all(isinstance(c, dict) and "key" in c for c in override):
            raise InvalidRequest("prices: components given as a list need a key in each item")
        override = {c["key"]: c for c in override}
    if not isinstance(override, dict):
        raise InvalidRequest("prices: components must be a mapping of key -> fields (or null to remove)")
    out: list[dict[str, Any]] = []
    for component in base:
        key = component["key"]
        if key in override:
            change = override[key]
            if change is None:
                continue
            if not isinstance(change, dict):
                raise InvalidRequest(f"prices: components.{key} must be a mapping of fields (or null)")
            component = {**component, **change, "key": key}
        out.append(component)
    known = {c["key"] for c in base}
    for key, change in override.items():
        if key not in known and change is not None:
            out.append({**change, "key": key})
    return out


def _validate(data: dict[str, Any], origin: str) -> PriceTable:
    try:
        return PriceTable.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "table"
            problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
        raise InvalidRequest(f"invalid price table ({origin}): " + "; ".join(problems)) from None


def default_prices() -> PriceTable:
    """The seed's prices, shipped with the package."""
    return _validate(_default_data(), "default.json")


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The default table, with the user's file (YAML or JSON) merged over it when given."""
    data = _default_data()
    if path is None:
        return _validate(data, "default.json")
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequest(f"cannot read price file {p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"price file {p} is not valid YAML/JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidRequest(f"price file {p}: expected a mapping at the top level")
    return _validate(merge_prices(data, _decimals(raw)), str(p))


def with_runtime_size(prices: PriceTable, size: str) -> PriceTable:
    """The table for a runtime of `size` (SMALL/MEDIUM/LARGE): the runtime node group's instance
    type and the service's vCPUs follow the size. Unchanged when the table has no such size."""
    spec = prices.runtime_sizes.get(size.upper())
    if spec is None:
        return prices
    components: list[Any] = []
    for c in prices.components:
        if c.key == "runtime_nodes" and isinstance(c, Instance):
            c = c.model_copy(update={"instance_type": spec.instance_type})
        elif c.key == "openflow_service" and isinstance(c, CreditsPerHour):
            c = c.model_copy(update={"quantity": spec.vcpus})
        components.append(c)
    return prices.model_copy(update={"components": components})


def with_credit_price(prices: PriceTable, usd: Decimal) -> PriceTable:
    if not usd.is_finite() or not 0 < usd <= MAX_CREDIT_PRICE_USD:
        raise InvalidRequest(
            f"credit price: {usd} is not a USD amount above 0 and at most {MAX_CREDIT_PRICE_USD}",
            fix="give the price of one credit from your Snowflake contract, e.g. --credit-price 3.00",
        )
    return prices.model_copy(update={"credit_price_usd": usd})
