"""Red-team campaigns (issue 10, sections 5 and 8): a campaign file names targets, attacks
with their parameters, budgets and pass thresholds; :func:`run_campaign` checks it all
before any work starts, fans the (target, attack) tasks out through the Executor (local
processes, or Ray), and returns the metrics; :func:`record_campaign` writes
``robustness.campaign`` evidence compared with the last run; :func:`campaign_report_html`
is the report."""

from bastion.robustness.campaign._checks import CampaignCheck, CampaignData, record_campaign
from bastion.robustness.campaign._report import campaign_report_html, limitations, vulnerabilities
from bastion.robustness.campaign._run import (
    CampaignResult,
    TargetResult,
    ThresholdResult,
    metrics_of,
    preflight,
    run_campaign,
    run_task,
)
from bastion.robustness.campaign._spec import (
    MAX_CAMPAIGN_BYTES,
    AttackEntry,
    Budget,
    Campaign,
    TargetEntry,
    Threshold,
    load_campaign,
    parse_campaign,
)

__all__ = [
    "MAX_CAMPAIGN_BYTES",
    "AttackEntry",
    "Budget",
    "Campaign",
    "CampaignCheck",
    "CampaignData",
    "CampaignResult",
    "TargetEntry",
    "TargetResult",
    "Threshold",
    "ThresholdResult",
    "campaign_report_html",
    "limitations",
    "load_campaign",
    "metrics_of",
    "parse_campaign",
    "preflight",
    "record_campaign",
    "run_campaign",
    "run_task",
    "vulnerabilities",
]
