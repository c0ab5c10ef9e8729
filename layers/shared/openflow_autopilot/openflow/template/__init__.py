"""Template doctor: reads the Openflow deployment's CloudFormation template, finds known defects in it
and in the scripts its UserData writes, and repairs the ones that can be repaired safely."""

from .catalog import RULES, Rule
from .cfn_yaml import CfnTag, dump_yaml, load_yaml, to_long_form
from .doctor import doctor
from .errors import TemplateError
from .report import DoctorReport, Evidence, Finding, Fix, LinePatch, ScriptInfo, Severity
from .scripts import EmbeddedScript, embedded_scripts
from .source import MAX_TEMPLATE_BYTES
from .sub import escape_sub_literal, render_sub

__all__ = [
    "MAX_TEMPLATE_BYTES",
    "RULES",
    "CfnTag",
    "DoctorReport",
    "EmbeddedScript",
    "Evidence",
    "Finding",
    "Fix",
    "LinePatch",
    "Rule",
    "ScriptInfo",
    "Severity",
    "TemplateError",
    "doctor",
    "dump_yaml",
    "embedded_scripts",
    "escape_sub_literal",
    "load_yaml",
    "render_sub",
    "to_long_form",
]
