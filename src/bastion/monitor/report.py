"""A self-contained HTML drift report with inline SVG charts (no script, no external
resource): PSI per column against the threshold, and each column's statistics. Every name
from the data is HTML-escaped."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["drift_html", "psi_chart_svg"]

_W, _ROW, _LEFT = 640, 22, 180


def _bar_chart(features: list[dict[str, Any]], threshold: float) -> str:
    top = max([threshold * 2, 1e-6, *(float(f["psi"]) for f in features)])
    h = _ROW * len(features) + 30
    scale = (_W - _LEFT - 60) / top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{h}" role="img" '
        f'aria-label="PSI per column">'
    ]
    for i, f in enumerate(features):
        y = 10 + i * _ROW
        w = max(1.0, float(f["psi"]) * scale)
        color = "#c0392b" if f["drifted"] else "#7f8c8d"
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"{escape(str(f['name'])[:40])}</text>"
            f'<rect x="{_LEFT}" y="{y + 3}" width="{w:.1f}" height="{_ROW - 6}" fill="{color}"/>'
            f'<text x="{_LEFT + w + 4:.1f}" y="{y + 14}" font-size="11">{float(f["psi"]):.3f}</text>'
        )
    x = _LEFT + threshold * scale
    parts.append(
        f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{h - 16}" stroke="#2c3e50" '
        f'stroke-dasharray="4 3"/><text x="{x:.1f}" y="{h - 4}" font-size="11" '
        f'text-anchor="middle">PSI {threshold:g}</text></svg>'
    )
    return "".join(parts)


def psi_chart_svg(data: dict[str, Any]) -> str:
    """The PSI-per-column chart (inline SVG, names escaped) of ``monitor.drift`` evidence
    data: drifted columns in red, the threshold dashed."""
    return _bar_chart(list(data.get("features", [])), float(data.get("psi_threshold", 0.1)))


def drift_html(data: dict[str, Any], *, title: str = "Drift report") -> str:
    """HTML of ``monitor.drift`` evidence data (``DriftData`` as JSON)."""
    feats = list(data.get("features", []))
    rows = "".join(
        "<tr{cls}><td>{n}</td><td>{r}</td><td>{k}</td><td>{t}</td><td>{psi:.4f}</td>"
        "<td>{js:.4f}</td><td>{p:.2e}</td><td>{q:.2e}</td><td>{d}</td></tr>".format(
            cls=' class="drift"' if f["drifted"] else "",
            n=escape(str(f["name"])),
            r=escape(str(f["role"])),
            k=escape(str(f["kind"])),
            t=escape(str(f["test"])),
            psi=float(f["psi"]),
            js=float(f["js"]),
            p=float(f["p_value"]),
            q=float(f["p_adjusted"]),
            d="yes" if f["drifted"] else "",
        )
        for f in feats
    )
    ref, cur = data.get("reference", {}), data.get("current", {})
    summary = (
        f"{len(data.get('drifted', []))} of {len(feats)} columns drifted"
        + ("; prediction drift" if data.get("prediction_drift") else "")
        + ("; confidence drift" if data.get("confidence_drift") else "")
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}
tr.drift{{background:#fdecea}}</style></head><body>
<h1>{escape(title)}</h1>
<p>Current <b>{escape(str(cur.get("name", "")))}</b> ({escape(str(cur.get("digest", "")))},
{int(cur.get("rows", 0))} rows) against reference <b>{escape(str(ref.get("name", "")))}</b>
({escape(str(ref.get("digest", "")))}, {int(ref.get("rows", 0))} rows).
Alpha {float(data.get("alpha", 0)):g} (Benjamini-Hochberg), PSI threshold
{float(data.get("psi_threshold", 0)):g}. <b>{escape(summary)}</b>.</p>
<h2>PSI per column</h2>
{_bar_chart(feats, float(data.get("psi_threshold", 0.1)))}
<h2>Statistics</h2>
<table><tr><th>column</th><th>role</th><th>kind</th><th>test</th><th>PSI</th><th>JS</th>
<th>p</th><th>p (BH)</th><th>drifted</th></tr>{rows}</table>
</body></html>
"""
