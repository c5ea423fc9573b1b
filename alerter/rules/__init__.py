"""Prometheus alerting-rule files: a typed model, and a loader that reports ``file:line`` problems.

A problem in one rule drops that rule; a file that is not valid YAML is dropped whole. Neither
stops the rules of other groups from loading, so one broken file never silences the others.
"""

from alerter.rules.loader import load_rules
from alerter.rules.model import Rule, RuleGroup, RuleProblem, RuleSet
from alerter.rules.promtool import promtool_path

__all__ = ["Rule", "RuleGroup", "RuleProblem", "RuleSet", "load_rules", "promtool_path"]
