"""The campaign's HTML report: a summary, per target and attack the robustness curve (SVG)
and a table, the thresholds, what changed since the last run, the limitations of the
evaluation and the known vulnerabilities, for the security playbook. Self-contained: one
file, no scripts, every value escaped."""

from __future__ import annotations

import html
from typing import Any

import jinja2

from bastion.robustness.campaign._run import CampaignResult, TargetResult
from bastion.robustness.interface import CurvePoint

__all__ = ["campaign_report_html", "limitations", "vulnerabilities"]

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Red-team campaign {{ c.name }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1000px; color: #1d2330; }
table { border-collapse: collapse; margin: .5rem 0 1rem; } th, td { border: 1px solid #cfd6e4; padding: .25rem .5rem; text-align: left; }
th { background: #eef2f8; } .pass { color: #1d6b3a; } .fail { color: #a3261b; } .warn { color: #8a5a00; }
.muted { color: #5d6678; } section { margin-bottom: 2rem; } svg { max-width: 100%; height: auto; }
</style></head><body>
<h1>Red-team campaign <code>{{ c.name }}</code></h1>
<p class="muted">{{ c.description }}</p>
<p>Verdict: <strong class="{{ 'pass' if r.passed else 'fail' }}" data-testid="verdict">{{ 'PASS' if r.passed else 'FAIL' }}</strong>
 &middot; executor {{ r.executor }} &middot; {{ r.targets|length }} target(s) x {{ c.attacks|length }} attack(s)
 &middot; {{ '%.1f'|format(r.wall_seconds) }} s wall &middot; seed {{ c.seed }} &middot; campaign {{ c.digest }}</p>
{% for t in r.targets %}
<section data-testid="target">
<h2>Target <code>{{ t.id }}</code> ({{ t.name }})</h2>
<p class="muted">model {{ t.model_digest or '?' }} &middot; data {{ t.data_digest or '?' }} &middot; {{ '%.2f'|format(t.cpu_seconds) }} CPU-s{% if t.retried %} &middot; {{ t.retried }} task attempt(s) retried after a worker died{% endif %}</p>
<table><thead><tr><th>Attack</th><th>Clean</th><th>Robust (largest eps)</th><th>Success rate</th><th>Mean min. perturbation</th><th>Valid</th>{% if prev.get(t.id) %}<th>Change since last run</th>{% endif %}</tr></thead><tbody>
{% for a in c.attacks %}{% set m = t.metrics.get(a.id) %}
<tr data-testid="attack-row"><td>{{ a.id }} <span class="muted">{{ a.attack }} {{ a.norm }}</span></td>
{% if m %}<td>{{ pct(m.clean_accuracy) }}</td><td>{{ pct(m.robust_accuracy) }}</td><td>{{ pct(m.attack_success_rate) }}</td><td>{{ num(m.mean_minimal_perturbation) }}</td><td class="{{ 'pass' if m.valid else 'warn' }}">{{ 'yes' if m.valid else 'NO' }}</td>
{% else %}<td colspan="5" class="fail">task failed: {{ t.failures.get(a.id, '') }}</td>{% endif %}
{% if prev.get(t.id) %}<td>{{ delta(t.id, a.id, 'robust_accuracy') }}</td>{% endif %}</tr>
{% endfor %}</tbody></table>
{% if t.thresholds %}<h3>Thresholds</h3><table><thead><tr><th>Metric</th><th>Value</th><th>Required</th><th></th></tr></thead><tbody>
{% for th in t.thresholds %}<tr data-testid="threshold-row"><td>{{ th.metric }}</td><td>{{ num(th.value) }}</td><td>{% if th.min is not none %}&ge; {{ th.min }}{% endif %}{% if th.max is not none %} &le; {{ th.max }}{% endif %}</td><td class="{{ 'pass' if th.passed else 'fail' }}">{{ 'holds' if th.passed else 'FAILS' }}</td></tr>{% endfor %}
</tbody></table>{% endif %}
{% for a in c.attacks %}{% if svgs.get((t.id, a.id)) %}<figure><figcaption>{{ a.id }}: accuracy under perturbation</figcaption>{{ svgs[(t.id, a.id)]|safe }}</figure>{% endif %}{% endfor %}
<h3>Known vulnerabilities</h3>
<ul>{% for v in vulns(t) %}<li data-testid="vulnerability">{{ v }}</li>{% else %}<li>none found by these attacks at these budgets</li>{% endfor %}</ul>
<h3>Limitations</h3>
<ul>{% for l in limits(t) %}<li data-testid="limitation">{{ l }}</li>{% endfor %}</ul>
</section>
{% endfor %}
</body></html>
"""


def _pct(v: Any) -> str:
    return "withheld" if v is None else f"{100 * float(v):.1f}%"


def _num(v: Any) -> str:
    return "-" if v is None else f"{float(v):.4g}"


def vulnerabilities(result: CampaignResult, t: TargetResult) -> list[str]:
    """Plain sentences for the playbook: where accuracy collapses, which thresholds fail."""
    out: list[str] = []
    for a in result.campaign.attacks:
        rep = t.reports.get(a.id)
        if not rep or not rep.get("valid"):
            continue
        for p in rep["curve"]:
            if p["accuracy"] < 0.5 * rep["clean_accuracy"]:
                out.append(
                    f"{a.id} ({a.attack}, {a.norm}): accuracy falls to {_pct(p['accuracy'])} "
                    f"(from {_pct(rep['clean_accuracy'])} clean) at eps {p['eps']:g}"
                )
                break
    out.extend(
        f"threshold {th.metric} does not hold (value {_num(th.value)})"
        for th in t.thresholds
        if not th.passed
    )
    return out


def limitations(result: CampaignResult, t: TargetResult) -> list[str]:
    """What this campaign does not show, stated so nobody reads more into it."""
    out: list[str] = []
    kinds = {a.attack for a in result.campaign.attacks}
    if not kinds & {"pgd", "fgsm"}:
        out.append("no white-box gradient attack was run: robustness to an attacker with the "
                   "model's weights is untested")  # fmt: skip
    if not kinds & {"square", "hopskipjump"}:
        out.append("no black-box attack was run: gradient masking would go unnoticed")
    out.extend(
        f"{attack}: the evaluation failed a validity check, so its robust accuracy is "
        "withheld (see the report's validity lines)"
        for attack in t.invalid
    )
    out.extend(
        f"{attack}: the task failed ({why[:200]}); its results are missing"
        for attack, why in t.failures.items()
    )
    samples = {rep.get("samples") for rep in t.reports.values()}
    out.extend(
        f"measured on {n} inputs: a rate's resolution is 1/{n} ({100 / n:.2f} percentage points)"
        for n in sorted(s for s in samples if isinstance(s, int))
    )
    out.append("evasion only: poisoning, extraction and membership inference need their own "
               "exercises (bastion redteam poison | extract | membership)")  # fmt: skip
    return out


def campaign_report_html(result: CampaignResult) -> str:
    from bastion.robustness._charts import curve_svg

    svgs: dict[tuple[str, str], str] = {}
    for t in result.targets:
        for a_id, rep in t.reports.items():
            curve = [CurvePoint(p["eps"], p["accuracy"], p["success_rate"],
                                p["mean_perturbation"], p["max_perturbation"])
                     for p in rep["curve"]]  # fmt: skip
            svgs[(t.id, a_id)] = curve_svg(curve, float(rep["clean_accuracy"]),
                                           title=f"{a_id} on {t.id}", valid=bool(rep["valid"]))  # fmt: skip

    def delta(target: str, attack: str, key: str) -> str:
        now = next(t for t in result.targets if t.id == target).metrics.get(attack, {}).get(key)
        old = result.previous.get(target, {}).get(attack, {}).get(key)
        if not isinstance(now, (int, float)) or not isinstance(old, (int, float)):
            return "-"
        return f"{100 * (float(now) - float(old)):+.1f} points"

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    tpl = env.from_string(_TEMPLATE)
    return tpl.render(
        c=result.campaign,
        r=result,
        prev=result.previous,
        svgs=svgs,
        pct=_pct,
        num=_num,
        delta=delta,
        vulns=lambda t: vulnerabilities(result, t),
        limits=lambda t: limitations(result, t),
        escape=html.escape,
    )
