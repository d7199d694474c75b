"""Black-box HTTP endpoint targets against a scikit-learn model the test serves on
127.0.0.1: the Square, HopSkipJump, membership and extraction attacks run through it
and agree with the same model in process; every bound (loopback, budget, concurrency,
malformed answers, a dead endpoint) is enforced."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from bastion.core.errors import InputError
from bastion.robustness._endpoint import EndpointTarget, EndpointTemplate, open_endpoint
from bastion.robustness._evaluate import evaluate
from bastion.robustness._extraction import extract_model
from bastion.robustness._http import Limits
from bastion.robustness._membership import membership_inference
from bastion.robustness._targets import SklearnTarget
from bastion.robustness.interface import AttackSpec, Capability, RobustnessError
from tests._cli import start
from tests.robustness.conftest import Digits


@dataclass
class Served:
    url: str
    model: Any
    requests: int = 0
    inflight: int = 0
    max_inflight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _serve(model: Any) -> tuple[ThreadingHTTPServer, Served]:
    state = Served("", model)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            with state.lock:
                state.requests += 1
                state.inflight += 1
                state.max_inflight = max(state.max_inflight, state.inflight)
            try:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(0.002)  # lets requests overlap, so the cap is exercised
                out: Any = None
                if self.path == "/predict":
                    x = np.asarray(body["instances"], dtype=np.float64)
                    out = {"result": {"probabilities": model.predict_proba(x).tolist()}}
                elif self.path == "/label":
                    x = np.asarray([body["features"]], dtype=np.float64)
                    out = {"label": int(model.predict(x)[0])}
                elif self.path == "/wrong-shape":
                    out = {"result": {"probabilities": [[1.0]]}}
            finally:
                # Counted out before answering: the client may send its next request the
                # moment it reads this one's answer.
                with state.lock:
                    state.inflight -= 1
            if out is None:
                self.send_response(404)
                self.end_headers()
                return
            raw = json.dumps(out).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


@pytest.fixture(scope="module")
def logreg(digits: Digits) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(digits.x_train, digits.y_train)


@pytest.fixture
def served(logreg: LogisticRegression) -> Iterator[Served]:
    server, state = _serve(logreg)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


PROBA = EndpointTemplate(
    body={"instances": "$INPUTS", "model": "digits"},
    response_path="$.result.probabilities",
    input_shape=(64,),
    n_classes=10,
    batch_size=16,
)
LABEL = EndpointTemplate(
    body={"features": "$INPUT"}, response_path="$.label", output="label", input_shape=(64,),
    n_classes=10,
)  # fmt: skip


def test_square_through_the_endpoint_matches_the_model_in_process(
    served: Served, logreg: LogisticRegression, digits: Digits
) -> None:
    x, y = digits.x_test[:40], digits.y_test[:40]
    spec = AttackSpec(name="square", queries=60, seed=3)
    with open_endpoint(served.url + "/predict", PROBA, concurrency=3) as t:
        assert t.capabilities == {Capability.PROBABILITIES, Capability.LABELS}
        remote = evaluate(t, x, y, eps=(0.05, 0.2), spec=spec, cross_check=0)
        sent = t.queries
    local = evaluate(SklearnTarget(logreg), x, y, eps=(0.05, 0.2), spec=spec, cross_check=0)
    assert [p.accuracy for p in remote.curve] == [p.accuracy for p in local.curve]
    assert remote.curve[-1].accuracy < remote.clean_accuracy
    assert remote.valid, remote.validity
    # Every row the attack asked about went over HTTP, batched 16 to a request.
    assert sent >= remote.queries and served.requests >= sent // 16
    assert 2 <= served.max_inflight <= 3


def test_hopskipjump_runs_against_a_label_only_endpoint(served: Served, digits: Digits) -> None:
    x, y = digits.x_test[:6], digits.y_test[:6]
    with open_endpoint(served.url + "/label", LABEL, concurrency=1) as t:
        assert t.capabilities == {Capability.LABELS}
        with pytest.raises(RobustnessError, match="needs gradients"):
            evaluate(t, x, y, eps=(0.1,), spec=AttackSpec(name="pgd"))
        with pytest.raises(RobustnessError, match="labels only"):
            t.predict_proba(x)
        r = evaluate(
            t, x, y, eps=(1.0, 4.0), spec=AttackSpec(name="hopskipjump", norm=_l2(), queries=150)
        )
        assert t.queries > len(x) * 10
    assert r.curve[-1].accuracy < r.clean_accuracy
    assert served.max_inflight == 1


def _l2() -> Any:
    from bastion.robustness.interface import Norm

    return Norm.L2


def test_membership_and_extraction_run_against_the_endpoint(digits: Digits) -> None:
    members_x, members_y = digits.x_train[:100], digits.y_train[:100]
    # A fully grown tree memorises its training set: membership must leak.
    tree = DecisionTreeClassifier(random_state=0).fit(members_x, members_y)
    server, state = _serve(tree)
    try:
        with open_endpoint(state.url + "/predict", PROBA) as t:
            mi = membership_inference(
                t, (members_x, members_y), (digits.x_test[:100], digits.y_test[:100]), seed=0
            )
            ex = extract_model(
                t,
                digits.x_train[200:800],
                digits.x_test[100:300],
                digits.y_test[100:300],
                budgets=(50, 400),
                seed=0,
            )
    finally:
        server.shutdown()
        server.server_close()
    local = membership_inference(
        SklearnTarget(tree),
        (members_x, members_y),
        (digits.x_test[:100], digits.y_test[:100]),
        seed=0,
    )
    assert mi.auc == local.auc and mi.auc > 0.6
    assert ex.answers == "probabilities"
    assert ex.curve[-1].fidelity > ex.curve[0].fidelity - 0.05 and ex.curve[-1].fidelity > 0.5


def test_the_query_budget_stops_an_attack(served: Served, digits: Digits) -> None:
    x: NDArray[np.float32] = digits.x_test[:20]
    with open_endpoint(served.url + "/predict", PROBA, query_budget=100) as t:
        with pytest.raises(RobustnessError, match="query budget of 100 rows is spent"):
            evaluate(t, x, digits.y_test[:20], eps=(0.1,), spec=AttackSpec(name="square"))
        assert t.queries <= 100


def test_bad_endpoints_and_templates_are_refused_before_work(
    served: Served, tmp_path: Path
) -> None:
    with pytest.raises(RobustnessError, match="not loopback and not allowed"):
        EndpointTarget(PROBA, "http://model.example.com/predict")
    with pytest.raises(RobustnessError, match=r"preflight.*shape"):
        open_endpoint(served.url + "/wrong-shape", PROBA)
    with pytest.raises(RobustnessError, match=r"preflight.*HTTP 404"):
        open_endpoint(served.url + "/nowhere", PROBA)
    dead = EndpointTemplate.model_validate(PROBA.model_dump() | {"batch_size": 1})
    with pytest.raises(RobustnessError, match=r"preflight.*transport error"):
        open_endpoint("http://127.0.0.1:9/p", dead, limits=Limits(retries=0, connect_timeout=1))
    bad = tmp_path / "bad.yaml"
    bad.write_text("body: {x: '$INPUT', y: '$INPUTS'}\nresponse_path: $.p\ninput_shape: [2]\n"
                   "n_classes: 2\n")  # fmt: skip
    with pytest.raises(InputError, match="exactly one value"):
        open_endpoint(served.url, bad)
    with pytest.raises(RobustnessError, match="concurrency"):
        EndpointTarget(PROBA, served.url, concurrency=0)


def test_cli_evaluates_an_endpoint_with_a_template(
    served: Served,
    digits_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = start(tmp_path, capsys)
    tpl = tmp_path / "endpoint.yaml"
    tpl.write_text(
        "body: {instances: $INPUTS}\nresponse_path: $.result.probabilities\n"
        "input_shape: [64]\nn_classes: 10\nbatch_size: 50\n"
    )
    common = ["--endpoint", served.url + "/predict", "--template", str(tpl)]
    doc = run.json(
        "redteam", "evaluate", *common, "--data", str(digits_files["npz"]), "--attack",
        "square", "--eps", "0.1,0.3", "--queries", "40", "--samples", "30",
    )  # fmt: skip
    assert doc["target"]["kind"] == "http-endpoint"
    assert doc["endpoint"]["location"] == served.url + "/predict"
    assert doc["endpoint"]["queries"] > 30 and doc["evidence"]
    assert doc["curve"][-1]["accuracy"] < doc["clean_accuracy"]
    rc, _out, err = run(
        "redteam", "evaluate", *common, "--data", str(digits_files["npz"]), "--attack", "pgd"
    )
    assert rc == 2 and "needs gradients" in err
    rc, _out, err = run(
        "redteam", "evaluate", str(digits_files["onnx"]), *common, "--data", "x.npz"
    )
    assert rc == 2 and "not both" in err


def _endpoint_campaign(url: str, tpl: Path, data: Path) -> str:
    return f"""
kind: RedTeamCampaign
name: endpoint-q4
seed: 1
targets:
  - id: served
    endpoint: {url}
    template: {tpl}
    data: {data}
    samples: 20
    query_budget: 200000
attacks:
  - id: square
    attack: square
    eps: [0.1, 0.3]
    queries: 30
thresholds:
  - metric: square.robust_accuracy_at_eps_0_1
    min: 0.0
"""


def test_a_campaign_target_can_be_an_endpoint(
    served: Served, digits_files: dict[str, Path], tmp_path: Path
) -> None:
    from bastion.core.executor import LocalExecutor
    from bastion.robustness.campaign import parse_campaign, run_campaign

    tpl = tmp_path / "endpoint.yaml"
    tpl.write_text(
        "body: {instances: $INPUTS}\nresponse_path: $.result.probabilities\n"
        "input_shape: [64]\nn_classes: 10\n"
    )
    text = _endpoint_campaign(served.url + "/predict", tpl, digits_files["npz"])
    res = run_campaign(parse_campaign(text), executor=LocalExecutor(1))
    (t,) = res.targets
    sq = t.metrics["square"]
    assert res.passed and sq["valid"] is True
    assert float(sq["robust_accuracy_at_eps_0_3"]) < float(sq["clean_accuracy"])  # type: ignore[arg-type]
    assert served.requests > 20
    # The preflight asks the endpoint before any work: a dead one is refused, and a
    # gradient attack on it too.
    dead = text.replace(served.url, "http://127.0.0.1:9")
    with pytest.raises(RobustnessError, match="target served: preflight"):
        run_campaign(parse_campaign(dead), executor=LocalExecutor(1))
    pgd = text.replace("attack: square", "attack: pgd")
    with pytest.raises(RobustnessError, match="needs gradients"):
        run_campaign(parse_campaign(pgd), executor=LocalExecutor(1))
    both = text.replace("    template:", f"    model: {digits_files['onnx']}\n    template:")
    with pytest.raises(InputError, match="either model: or endpoint:"):
        parse_campaign(both)
