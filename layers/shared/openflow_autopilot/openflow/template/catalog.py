"""The rule catalog: every check the template doctor runs, with its id, severity and what it looks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .report import Severity


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    description: str
    fixable: bool


OFD000: Final = Rule(
    "OFD000",
    "Part of the template was not analysed",
    Severity.INFO,
    "A check could not run: ShellCheck is not installed, or a UserData has a form the doctor does not "
    "render (for example Fn::Join with values only known after deployment).",
    fixable=False,
)
OFD001: Final = Rule(
    "OFD001",
    "Indirect expansion where the variable's value was meant",
    Severity.ERROR,
    "`${!name}` is bash indirect expansion: it expands the variable whose NAME is name's value. Flagged "
    "when name is assigned from a command substitution in the same script and either (a) the captured "
    "output cannot be a variable name: the substitution captures stderr (`2>&1`, `&>`, `|&`) or its last "
    "command is the AWS CLI without `--output text` (a JSON document or an error message); or (b) the "
    "expanded value is then used as text (piped to grep/sed/awk, echoed to stderr, matched with =~) and "
    'name is nowhere used to build a variable name (`"$name"_SUFFIX`, `$name=`). Judged on the script '
    "as the instance runs it: in an Fn::Sub string `${!!x}` runs as `${!x}`, while `${!x}` runs as "
    "`${x}`. The seed's `ensure-ecr-repo.sh` failure: the RepositoryNotFoundException check never "
    "matches, no ECR repository is created, the deployment stays Inactive.",
    fixable=True,
)
OFD002: Final = Rule(
    "OFD002",
    "Unset variable passed as an option value",
    Severity.ERROR,
    "`--option $var` where var is assigned nowhere in the script or in the files it sources (such as "
    "the `.env` heredoc). The option gets an empty value or swallows the next word: "
    "`aws ecr create-repository ... --tags $agent_tags` fails with `argument --tags: expected at least "
    "one argument`. All-uppercase names are skipped (by convention they come from the environment).",
    fixable=True,
)
OFD003: Final = Rule(
    "OFD003",
    "errexit/pipefail defeats the RepositoryNotFoundException check",
    Severity.ERROR,
    "In a script that checks for RepositoryNotFoundException: with `set -e`, an unguarded "
    "`x=$(aws ecr describe-repositories ...)` that fails exits the script before the `$?` check, so the "
    "missing repository is never created; with `set -o pipefail`, `aws ... | grep -q "
    "RepositoryNotFoundException` returns the AWS CLI's failure even when grep matches.",
    fixable=True,
)
OFD004: Final = Rule(
    "OFD004",
    "Deployment parameter edited by hand",
    Severity.ERROR,
    "Openflow's documentation allows changing only the drop-down parameters (those with AllowedValues). "
    "A Default that differs from the value the deployment expects (DataPlaneKey, DataPlaneUUID, "
    "SnowflakeAccountURL, ...) connects the agent to the wrong deployment. An expected parameter the "
    "template does not declare, or declares without a Default, is a warning.",
    fixable=True,
)
OFD005: Final = Rule(
    "OFD005",
    "Script written through an unquoted heredoc",
    Severity.INFO,
    "`cat <<EOF > file.sh` (unquoted delimiter) expands `$var` and `$(...)` while UserData writes the file, "
    "so the file differs from its text in the template. It is analysed as part of UserData only.",
    fixable=False,
)
OFD006: Final = Rule(
    "OFD006",
    "Malformed intrinsic function in UserData",
    Severity.ERROR,
    "The UserData is not a form CloudFormation accepts: Fn::Base64 of a list, Fn::Sub that is not a string "
    "or [string, {variables}], Fn::Join that is not [delimiter, [values...]] or whose values include a "
    "plain list or mapping, or a UserData that is a list, a mapping or empty. CloudFormation rejects the "
    "template; the doctor names the resource and line and does not analyse that UserData's scripts.",
    fixable=False,
)
SHELLCHECK: Final = Rule(
    "SC",
    "ShellCheck",
    Severity.WARNING,
    "Every embedded shell script goes through `shellcheck -s bash`. ShellCheck errors and warnings are "
    "reported as warnings, its info and style notes as info; never as errors. Files other scripts "
    "`source` (such as `.env`) skip SC2034 (their assignments are used by the sourcing script).",
    fixable=False,
)

RULES: Final[tuple[Rule, ...]] = (OFD000, OFD001, OFD002, OFD003, OFD004, OFD005, OFD006, SHELLCHECK)
