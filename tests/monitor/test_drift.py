"""Drift statistics against scipy and closed forms; detection, windows, hysteresis; the
monitor.drift check and its evidence."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from bastion.core.checks import run_check
from bastion.core.errors import CheckError, InputError
from bastion.core.types import Subject, Verdict
from bastion.core.workspace import Workspace
from bastion.monitor import (
    AlertPolicy,
    DriftCheck,
    ReferenceProfile,
    StreamingDrift,
    benjamini_hochberg,
    jensen_shannon,
    psi,
    read_table,
)


def test_psi_and_js_match_their_definitions() -> None:
    ref = np.array([25.0, 25, 25, 25])
    cur = np.array([10.0, 20, 30, 40])
    p, q = cur / cur.sum(), ref / ref.sum()
    assert psi(ref, cur) == pytest.approx(float(np.sum((p - q) * np.log(p / q))), rel=1e-3)
    assert jensen_shannon(ref, cur) == pytest.approx(float(jensenshannon(q, p, base=2)), rel=1e-9)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-12)


def test_benjamini_hochberg_matches_scipy() -> None:
    p = [0.01, 0.04, 0.03, 0.2, 0.5, 0.001]
    assert benjamini_hochberg(p) == pytest.approx(list(stats.false_discovery_control(p)))


def _data(n: int, seed: int, shift: float = 0.0) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(shift, 1, n),
        "b": rng.normal(0, 1, n),
        "c": rng.exponential(1, n),
        "cat": rng.choice(
            ["x", "y", "z"], n, p=[0.6, 0.3, 0.1] if not shift else [0.2, 0.3, 0.5]
        ).tolist(),
        "score": rng.uniform(0, 1, n),
    }


def test_same_distribution_flags_nothing_drift_flags_the_shifted_columns() -> None:
    prof = ReferenceProfile.build(_data(20_000, 0), roles={"score": "confidence"})
    same = prof.compare(_data(20_000, 1))
    assert same.drifted == ()
    moved = prof.compare(_data(20_000, 2, shift=0.6))
    assert set(moved.drifted) == {"a", "cat"}
    by = {f.name: f for f in moved.features}
    assert by["a"].test == "ks" and by["cat"].test == "chi2"
    assert by["a"].p_adjusted < 1e-10 and by["a"].psi > 0.2
    assert not moved.confidence_drift


def test_ks_on_samples_agrees_with_scipy_on_full_data() -> None:
    ref = _data(3000, 0)
    cur = _data(3000, 5, shift=0.2)
    prof = ReferenceProfile.build({"a": ref["a"]}, sample_size=5000)
    f = prof.compare({"a": cur["a"]}).features[0]
    exp = stats.ks_2samp(ref["a"], cur["a"], method="asymp")
    assert f.statistic == pytest.approx(exp.statistic, rel=1e-12)
    # the p-value: the asymptotic Kolmogorov distribution (scipy's kstwobign) at sqrt(en) D,
    # within a few percent of scipy's finite-n Smirnov approximation
    en = 3000 * 3000 / 6000
    assert f.p_value == pytest.approx(stats.kstwobign.sf(math.sqrt(en) * exp.statistic))
    assert f.p_value == pytest.approx(exp.pvalue, rel=0.1)


def test_chi_square_agrees_with_scipy() -> None:
    ref = ["x"] * 60 + ["y"] * 30 + ["z"] * 10
    cur = ["x"] * 40 + ["y"] * 30 + ["z"] * 30
    f = ReferenceProfile.build({"k": ref}).compare({"k": cur}).features[0]
    exp = stats.chi2_contingency([[60, 30, 10], [40, 30, 30]], correction=False)
    assert f.statistic == pytest.approx(exp.statistic) and f.p_value == pytest.approx(exp.pvalue)


def test_an_unseen_category_counts_as_other_and_drifts() -> None:
    prof = ReferenceProfile.build({"k": ["a", "b"] * 500})
    rep = prof.compare({"k": ["a", "b", "NEW", "NEW"] * 250})
    assert rep.drifted == ("k",)


def test_prediction_drift_is_reported_by_role() -> None:
    rng = np.random.default_rng(3)
    prof = ReferenceProfile.build(
        {"x": rng.normal(0, 1, 5000), "pred": rng.choice(["approve", "deny"], 5000).tolist()},
        roles={"pred": "prediction"},
    )
    rep = prof.compare({"x": rng.normal(0, 1, 5000), "pred": ["deny"] * 4000 + ["approve"] * 1000})
    assert rep.prediction_drift and rep.drifted == ("pred",)


def test_missing_values_are_counted_not_binned() -> None:
    prof = ReferenceProfile.build({"x": np.arange(1000.0)})
    cur = np.arange(1000.0)
    cur[:100] = np.nan
    f = prof.compare({"x": cur}).features[0]
    assert f.missing_current == 100 and f.n_current == 900


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="bins"):
        ReferenceProfile.build({"x": [1.0, 2.0]}, bins=1)
    with pytest.raises(InputError, match="lacks"):
        ReferenceProfile.build({"x": np.arange(10.0)}).compare({"y": [1.0]})
    with pytest.raises(InputError, match="infinite"):
        ReferenceProfile.build({"x": [1.0, math.inf, 2.0]})


def _rows(data: dict[str, object], n: int) -> list[dict[str, object]]:
    return [{k: v[i] for k, v in data.items()} for i in range(n)]  # type: ignore[index]


def test_streaming_count_windows_match_batch_and_raise_with_hysteresis() -> None:
    prof = ReferenceProfile.build(_data(10_000, 0), sample_size=2000)
    sd = StreamingDrift(prof, window_size=2000, alerts=AlertPolicy(raise_after=2, clear_after=2))
    reports = [r for row in _rows(_data(2000, 1), 2000) if (r := sd.update(row))]
    assert len(reports) == 1 and reports[0].drifted == () and reports[0].alerts == ()
    drifted = _rows(_data(6000, 2, shift=0.8), 6000)
    reports = [r for row in drifted if (r := sd.update(row))]
    assert [set(r.drifted) for r in reports] == [{"a", "cat"}] * 3
    # batch statistics on the same window agree with the streamed counts
    batch = prof.compare({k: [row[k] for row in drifted[:2000]] for k in drifted[0]})
    assert reports[0].features[0].psi == pytest.approx(batch.features[0].psi)
    # raised after the second drifted window, not the first, and only once
    assert reports[0].alerts == ()
    assert {(a.feature, a.state) for a in reports[1].alerts} == {("a", "raised"), ("cat", "raised")}
    assert reports[2].alerts == ()
    assert set(sd.active_alerts) == {"a", "cat"}
    calm = [r for row in _rows(_data(4000, 7), 4000) if (r := sd.update(row))]
    assert calm[0].alerts == ()  # one calm window does not clear
    assert {(a.feature, a.state) for a in calm[1].alerts} == {("a", "cleared"), ("cat", "cleared")}
    assert sd.active_alerts == ()


def test_streaming_time_windows() -> None:
    t = [0.0]
    prof = ReferenceProfile.build(_data(5000, 0))
    sd = StreamingDrift(prof, window_size=None, window_seconds=60, clock=lambda: t[0])
    rows = _rows(_data(500, 1), 500)
    assert all(sd.update(r) is None for r in rows[:300])
    t[0] = 61.0
    rep = sd.update(rows[300])  # the first request after the window ran out closes it
    assert rep is not None and rep.n_current == 300 and rep.window == 1
    t[0] = 200.0
    closed = sd.tick()
    assert closed is not None and closed.n_current == 1
    assert sd.tick() is None


def _write(path: Path, data: dict[str, object]) -> None:
    if path.suffix == ".parquet":
        pq.write_table(pa.table(data), path)
    else:
        import pyarrow.csv as pacsv

        pacsv.write_csv(pa.table(data), path)


def test_drift_check_records_typed_evidence(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.csv"
    _write(ref, _data(5000, 0))
    _write(cur, _data(5000, 1, shift=0.7))
    ev = run_check(
        sqlite_ws, DriftCheck, Subject("dataset", str(cur)),
        params={"reference": str(ref), "confidence": "score"},
    )  # fmt: skip
    assert ev.verdict is Verdict.WARN
    data = DriftCheck.read(ev)
    assert set(data.drifted) == {"a", "cat"} and not data.confidence_drift
    assert data.reference.digest == read_table(ref).digest and data.reference.format == "parquet"
    assert ev.subject.digest == read_table(cur).digest == data.current.digest
    assert ev.ledger_seq is not None
    assert {f.rule_id for f in ev.findings} == {"DRIFT-FEATURE"}


def test_drift_check_prediction_drift_fails(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    _write(ref, _data(3000, 0))
    _write(cur, _data(3000, 1, shift=0.7))
    ev = run_check(
        sqlite_ws, DriftCheck, Subject("dataset", str(cur)),
        params={"reference": str(ref), "prediction": "cat"},
    )  # fmt: skip
    assert ev.verdict is Verdict.FAIL and DriftCheck.read(ev).prediction_drift


def test_drift_check_bad_table_is_an_error_naming_the_file(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ref = tmp_path / "ref.parquet"
    ref.write_bytes(b"PAR1 not really parquet SECRET-CONTENT")
    cur = tmp_path / "cur.csv"
    _write(cur, _data(100, 0))
    ev = run_check(
        sqlite_ws, DriftCheck, Subject("dataset", str(cur)), params={"reference": str(ref)}
    )
    assert ev.verdict is Verdict.ERROR
    assert "ref.parquet" in ev.data["error"] and "SECRET" not in ev.data["error"]
    with pytest.raises(CheckError):
        DriftCheck.read(ev)


def test_drift_check_is_remote_confined(sqlite_ws: Workspace, tmp_path: Path) -> None:
    cur = tmp_path / "cur.csv"
    _write(cur, _data(100, 0))
    with pytest.raises(InputError, match=r"check roots|not under"):
        run_check(
            sqlite_ws, "monitor.drift", Subject("dataset", str(cur)),
            params={"reference": "/etc/passwd"}, remote=True,
        )  # fmt: skip


def test_streaming_reservoir_is_a_uniform_sample_of_the_window() -> None:
    """Algorithm L keeps a uniform sample: on a ramp its mean is the ramp's middle (a sample
    of the first values, a bias toward early or late requests, would fail this)."""
    prof = ReferenceProfile.build({"x": np.arange(50_000.0)}, sample_size=500)
    sd = StreamingDrift(prof, window_size=50_001, seed=7)
    for i in range(50_000):
        sd.update({"x": float(i)})
    sample = np.asarray(sd._w.num[0][3])
    assert sample.size == 500 and len(set(sample.tolist())) == 500
    assert abs(sample.mean() - 25_000) < 2_600  # 4 standard errors
    assert 0.4 < float((sample < 25_000).mean()) < 0.6
    rep = sd.close_window()
    assert rep is not None and rep.drifted == ()  # the same ramp: no drift


def test_streaming_bad_values_count_as_missing() -> None:
    prof = ReferenceProfile.build({"x": np.arange(100.0), "k": ["a", "b"] * 50})
    sd = StreamingDrift(prof, window_size=10)
    for v in ["abc", None, math.nan, math.inf, object()]:
        sd.update({"x": v, "k": None})
    reports = [sd.update({"x": 5, "k": 3}) for _ in range(5)]
    rep = reports[-1]  # the 10th request closed the window
    assert rep is not None and sd.windows == 1
    x, k = rep.features
    assert (x.missing_current, x.n_current) == (5, 5)
    assert (k.missing_current, k.n_current) == (5, 5)  # 3 is not a category: counted as other


def test_alert_transitions_become_ocsf_detection_findings() -> None:
    from bastion.monitor import DriftAlert, ModelRef, alert_finding

    model = ModelRef("credit-gbm", "3")
    up = alert_finding(DriftAlert("pred", "prediction", "raised", 0.4, 3), model=model).to_ocsf()
    down = alert_finding(DriftAlert("pred", "prediction", "cleared", 0.01, 6), model=model)
    d = down.to_ocsf()
    assert (up["class_uid"], up["activity_id"], up["severity_id"]) == (2004, 1, 4)
    assert (d["activity_id"], d["status_id"]) == (3, 4)
    assert up["finding_info"]["uid"] == d["finding_info"]["uid"] == "drift:credit-gbm:pred"
    assert up["ai"]["evidence"]["psi"] == 0.4 and up["ai"]["model"]["name"] == "credit-gbm"


def test_html_report_escapes_column_names() -> None:
    from bastion.monitor import drift_html

    prof = ReferenceProfile.build({"<script>alert(1)</script>": np.arange(1000.0)})
    rep = prof.compare({"<script>alert(1)</script>": np.arange(1000.0) + 500})
    data = {"features": [f.to_dict() for f in rep.features], "drifted": list(rep.drifted),
            "alpha": 0.05, "psi_threshold": 0.1, "reference": {"name": "r&d.csv"}}  # fmt: skip
    doc = drift_html(data)
    assert "<script>" not in doc and "&lt;script&gt;" in doc and "r&amp;d.csv" in doc
    assert doc.count("<rect") == 1 and 'fill="#c0392b"' in doc  # the drifted bar is red


def _inference_log(path: Path, n: int, shift: float, seed: int) -> None:
    from bastion.monitor import (
        Actor,
        ApiActivity,
        Authentication,
        FileSink,
        Inference,
        InputMode,
        InputPolicy,
        ModelRef,
    )

    rng = np.random.default_rng(seed)
    raw = InputPolicy(InputMode.RAW)
    events = [Authentication(Actor("a")).to_ocsf()]
    for _i in range(n):
        inputs = {
            "income": float(rng.normal(50 + shift, 10)),
            "region": str(rng.choice(["n", "s"])),
        }
        events.append(
            ApiActivity(
                actor=Actor("a"),
                operation="predict",
                policy=raw,
                inference=Inference(
                    ModelRef("m"), inputs=inputs, output="ok", confidence=float(rng.uniform(0.5, 1))
                ),
            ).to_ocsf()
        )
    hashed = InputPolicy(InputMode.HASH, key=b"k" * 32)
    events.append(
        ApiActivity(
            actor=Actor("a"),
            operation="predict",
            policy=hashed,
            inference=Inference(ModelRef("m"), inputs={"income": 1.0}),
        ).to_ocsf()
    )
    FileSink(path).send(events)


def test_drift_over_stored_ocsf_logs(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ref, cur = tmp_path / "ref.jsonl", tmp_path / "cur.jsonl"
    _inference_log(ref, 2000, 0, 1)
    _inference_log(cur, 2000, 6, 2)
    t = read_table(cur)
    assert t.format == "ocsf-jsonl" and t.rows == 2000 and t.skipped == 2
    assert set(t.columns) == {"income", "region", "output", "confidence"}
    assert set(t.categorical) == {"region", "output"}
    ev = run_check(
        sqlite_ws, DriftCheck, Subject("dataset", str(cur)),
        params={"reference": str(ref), "confidence": "confidence"},
    )  # fmt: skip
    data = DriftCheck.read(ev)
    assert data.drifted == ("income",) and data.current.skipped == 2


def test_ocsf_log_with_a_bad_line_is_refused_by_number(tmp_path: Path) -> None:
    log = tmp_path / "x.jsonl"
    _inference_log(log, 3, 0, 1)
    with log.open("a") as f:
        f.write("{torn\n")
    with pytest.raises(InputError, match="line 6 is not valid JSON"):
        read_table(log)


def test_streaming_window_reports_are_recorded_as_drift_evidence(sqlite_ws: Workspace) -> None:
    from bastion.monitor import record_drift

    prof = ReferenceProfile.build(_data(5000, 0), roles={"score": "confidence"})
    sd = StreamingDrift(prof, window_size=2000)
    reps = [r for row in _rows(_data(2000, 2, shift=0.8), 2000) if (r := sd.update(row))]
    ev = record_drift(sqlite_ws, reps[0], prof, stream="credit-gbm")
    data = DriftCheck.read(ev)
    assert ev.verdict is Verdict.WARN and set(data.drifted) == {"a", "cat"}
    assert data.reference.digest == prof.digest() and data.reference.format == "profile"
    assert data.current.format == "stream" and data.current.rows == 2000
    assert ev.subject.ref == "stream:credit-gbm" and ev.subject.digest == data.current.digest
    assert ev.ledger_seq is not None
    other = ReferenceProfile.build(_data(5000, 9))
    assert other.digest() != prof.digest()  # the profile's digest pins its statistics


def test_drift_check_remote_run_inside_the_check_roots(tmp_path: Path) -> None:
    from bastion.core.settings import get_settings
    from bastion.core.workspace import init_workspace

    root = tmp_path / "data"
    root.mkdir()
    ref, cur = root / "ref.csv", root / "cur.csv"
    _write(ref, _data(3000, 0))
    _write(cur, _data(3000, 1, shift=0.7))
    ws, _ = init_workspace(get_settings(home=tmp_path / "home", check_roots=(root,)))
    try:
        ev = run_check(
            ws, "monitor.drift", Subject("dataset", "cur.csv"),
            params={"reference": "ref.csv", "alpha": 0.01}, remote=True,
        )  # fmt: skip
        data = DriftCheck.read(ev)
        assert set(data.drifted) == {"a", "cat"} and data.alpha == 0.01
        with pytest.raises(InputError, match="does not accept"):
            run_check(
                ws, "monitor.drift", Subject("dataset", "cur.csv"),
                params={"reference": "ref.csv", "max_bytes": 10}, remote=True,
            )  # fmt: skip
    finally:
        ws.close()


def test_a_column_that_goes_missing_has_drifted() -> None:
    """A feed that stops sending a field: before, an all-missing current column had no
    values to test and was reported as not drifted."""
    rng = np.random.default_rng(4)
    prof = ReferenceProfile.build({"x": rng.normal(0, 1, 5000), "k": ["a", "b"] * 2500})
    cur_x = rng.normal(0, 1, 5000)
    cur_x[:3000] = np.nan
    rep = prof.compare({"x": cur_x, "k": [None] * 5000})
    by = {f.name: f for f in rep.features}
    assert by["x"].drifted and by["x"].missing_current == 3000
    assert by["k"].drifted and by["k"].n_current == 0
    # a few missing values on both sides are no drift
    ref_x = rng.normal(0, 1, 5000)
    ref_x[:50] = np.nan
    prof2 = ReferenceProfile.build({"x": ref_x})
    cur2 = rng.normal(0, 1, 5000)
    cur2[:55] = np.nan
    assert prof2.compare({"x": cur2}).drifted == ()
