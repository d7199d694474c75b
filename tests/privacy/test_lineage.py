"""Lineage: OpenLineage RunEvents validated against the RunEvent schema, recorded by the
room's transformations through one hook, the graph (upstream, downstream, impacted
models, SVG), export to a file and to a real HTTP endpoint, the CLI and the API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from fastapi.testclient import TestClient

from bastion.access import Role, create_token
from bastion.api import create_app
from bastion.core.errors import InputError, NotFoundError
from bastion.core.workspace import Workspace
from bastion.privacy.deid import mask_file, parse_policy
from bastion.privacy.dp import set_budget, train_dp_logistic
from bastion.privacy.lineage import (
    DatasetRef,
    build_event,
    export_events,
    graph_svg,
    impacted,
    lineage_graph,
    lineage_run,
    list_events,
    record_event,
    validate_event,
)
from tests._cli import start

CSV = "name,email,zip,income\n" + "".join(
    f"P{i},p{i}@example.com,{10000 + i},{1000 + i}\n" for i in range(50)
)
POLICY = "columns:\n  email: {operator: hash}\n  name: {operator: redact}\n  zip: {operator: generalize, keep: 3}\n"


def _masked(ws: Workspace, tmp: Path) -> tuple[Path, Path]:
    src = tmp / "applicants.csv"
    src.write_text(CSV)
    out = tmp / "applicants.masked.csv"
    mask_file(src, parse_policy(POLICY), out, ws=ws, actor="t")
    return src, out


def test_events_follow_the_spec_and_bad_ones_are_refused() -> None:
    ev = build_event("job.x", inputs=[DatasetRef("file", "/a", "sha256:" + "0" * 64,
                                                 (("c", "int"),))], outputs=[DatasetRef("file", "/b")])  # fmt: skip
    validate_event(ev)
    assert ev["schemaURL"].endswith("2-0-2/OpenLineage.json#/$defs/RunEvent")
    assert ev["inputs"][0]["facets"]["schema"]["fields"] == [{"name": "c", "type": "int"}]
    bad = json.loads(json.dumps(ev))
    del bad["run"]["runId"]
    with pytest.raises(InputError, match="at run: 'runId' is a required property"):
        validate_event(bad)
    bad = {**ev, "eventType": "DONE"}
    with pytest.raises(InputError, match="at eventType"):
        validate_event(bad)
    bad = json.loads(json.dumps(ev))
    del bad["inputs"][0]["facets"]["schema"]["_producer"]
    with pytest.raises(InputError, match="_producer"):
        validate_event(bad)
    with pytest.raises(InputError, match="NAMESPACE:NAME"):
        DatasetRef.parse("nocolon")


def test_masking_records_column_lineage(ws: Workspace, tmp_path: Path) -> None:
    src, out = _masked(ws, tmp_path)
    (ev,) = list_events(ws)
    e = ev.event
    assert e["job"]["name"] == "privacy.mask" and e["eventType"] == "COMPLETE"
    assert e["inputs"][0] == {**e["inputs"][0], "namespace": "file", "name": str(src.resolve())}
    cl = e["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert cl["email"]["inputFields"][0]["transformations"][0] == {
        "type": "DIRECT", "subtype": "TRANSFORMATION", "masking": True, "description": "hash"
    }  # fmt: skip
    assert cl["income"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"
    assert e["run"]["facets"]["bastion_evidence"]["evidenceId"] == ev.evidence_id
    validate_event(e)
    g = lineage_graph(ws, str(src.resolve()), direction="downstream")
    assert g.edges == ((f"file:{src.resolve()}", f"file:{out.resolve()}", "privacy.mask"),)


def test_graph_from_source_to_model_and_impacted(ws: Workspace, tmp_path: Path) -> None:
    src, masked = _masked(ws, tmp_path)
    # A training job wrapped in the context manager: START, then COMPLETE with its output.
    with lineage_run(ws, "train.credit-gbm", [DatasetRef("file", str(masked.resolve()))]) as run:
        run.add_output(DatasetRef("bastion.registry", "credit-gbm@3"))
    with (
        pytest.raises(ZeroDivisionError),
        lineage_run(ws, "train.broken", [DatasetRef("file", "/x")]),
    ):
        _ = 1 / 0
    kinds = [(e.job, e.event_type) for e in list_events(ws)]
    assert kinds[1:] == [("train.credit-gbm", "START"), ("train.credit-gbm", "COMPLETE"),
                         ("train.broken", "START"), ("train.broken", "FAIL")]  # fmt: skip
    fail = list_events(ws)[-1].event
    assert fail["run"]["facets"]["bastion_error"]["type"] == "ZeroDivisionError"
    # DP training of the budgeted dataset records its lineage in the spend's transaction.
    set_budget(ws, "applicants", epsilon=5, delta=1e-5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] > 0).astype(int)
    model, _ = train_dp_logistic(ws, "applicants", x, y, epsilon=2, delta=1e-5,
                                 input_digest="sha256:" + "1" * 64, sample_rate=0.1)  # fmt: skip
    assert impacted(ws, str(src.resolve())) == ["bastion.registry:credit-gbm@3"]
    assert impacted(ws, "applicants") == [f"bastion.model:{model.digest()}"]
    up = lineage_graph(ws, "bastion.registry:credit-gbm@3", direction="upstream")
    assert set(up.nodes) == {f"file:{src.resolve()}", f"file:{masked.resolve()}",
                             "bastion.registry:credit-gbm@3"}  # fmt: skip
    with pytest.raises(NotFoundError):
        lineage_graph(ws, "nowhere")
    svg = graph_svg(up, "up")
    assert svg.startswith("<?xml") and "credit-gbm@3" in svg and "privacy.mask" in svg
    assert svg == graph_svg(up, "up")  # reproducible


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[str, dict[str, Any], str | None]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        n = int(self.headers["Content-Length"])
        _Receiver.got.append((self.path, json.loads(self.rfile.read(n)),
                              self.headers.get("Authorization")))  # fmt: skip
        self.send_response(_Receiver.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.got.clear()
    _Receiver.status = 200
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_export_to_file_and_endpoint(ws: Workspace, tmp_path: Path, receiver: str) -> None:
    _masked(ws, tmp_path)
    record_event(ws, build_event("other", inputs=[DatasetRef("file", "/a")]))
    out = tmp_path / "events.jsonl"
    r = export_events(ws, out=out)
    lines = out.read_text().splitlines()
    assert r.events == 2 == len(lines)
    for line in lines:
        validate_event(json.loads(line))
    r = export_events(ws, url=receiver, token="s3cret")
    assert r.events == 2 and r.target == f"{receiver}/api/v1/lineage"
    assert [p for p, _, _ in _Receiver.got] == ["/api/v1/lineage"] * 2
    assert _Receiver.got[0][1]["job"]["name"] == "privacy.mask"
    assert _Receiver.got[0][2] == "Bearer s3cret"
    assert export_events(ws, url=receiver, since=r.last_seq).events == 0
    _Receiver.status = 500
    with pytest.raises(InputError, match="answered 500 at event"):
        export_events(ws, url=receiver)
    with pytest.raises(InputError, match="credentials"):
        export_events(ws, url="http://u:p@127.0.0.1:1")
    with pytest.raises(InputError, match="exactly one"):
        export_events(ws)


def test_cli_lineage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = start(tmp_path, capsys)
    src = tmp_path / "applicants.csv"
    src.write_text(CSV)
    pol = tmp_path / "p.yaml"
    pol.write_text(POLICY)
    masked = tmp_path / "m.csv"
    assert run("data", "mask", str(src), "-p", str(pol), "-o", str(masked))[0] == 0
    ev = build_event("train", inputs=[DatasetRef("file", str(masked.resolve()))],
                     outputs=[DatasetRef("bastion.registry", "credit-gbm@1")])  # fmt: skip
    evf = tmp_path / "ev.json"
    evf.write_text(json.dumps(ev))
    assert run.json("data", "lineage", "record", str(evf))["job"] == "train"
    svg = tmp_path / "g.svg"
    g = run.json("data", "lineage", "show", "applicants.csv", "--svg", str(svg))
    assert len(g["edges"]) == 2 and svg.read_text().startswith("<?xml")
    assert run.json("data", "lineage", "impacted", "applicants.csv")["models"] == [
        "bastion.registry:credit-gbm@1"
    ]
    out = tmp_path / "all.jsonl"
    assert run.json("data", "lineage", "export", "--out", str(out))["events"] == 2
    evf.write_text(json.dumps({**ev, "eventTime": "yesterday"}))
    rc, _, err = run("data", "lineage", "record", str(evf))
    assert rc == 2 and "eventTime" in err


def test_api_lineage(ws: Workspace, tmp_path: Path) -> None:
    client = TestClient(create_app(ws.settings, workspace=ws))
    src, _ = _masked(ws, tmp_path)
    viewer = {"Authorization": f"Bearer {create_token(ws, name='v', role=Role.VIEWER).token}"}
    eng = {"Authorization": f"Bearer {create_token(ws, name='e', role=Role.ENGINEER).token}"}
    assert client.get("/api/v1/data/lineage").status_code == 401
    r = client.get("/api/v1/data/lineage", params={"dataset": "applicants.csv"}, headers=viewer)
    assert r.status_code == 200 and len(r.json()["edges"]) == 1
    ev = build_event("train", inputs=[DatasetRef("file", str(src.resolve()))],
                     outputs=[DatasetRef("bastion.model", "m1")])  # fmt: skip
    assert client.post("/api/v1/data/lineage", json=ev, headers=viewer).status_code == 403
    assert client.post("/api/v1/data/lineage", json=ev, headers=eng).status_code == 200
    bad = {**ev, "run": {}}
    assert client.post("/api/v1/data/lineage", json=bad, headers=eng).status_code == 422
    r = client.get("/api/v1/data/lineage/impacted", params={"dataset": "applicants.csv"},
                   headers=viewer)  # fmt: skip
    assert r.json()["models"] == ["bastion.model:m1"]
    r = client.get("/api/v1/data/lineage/svg", headers=viewer)
    assert r.headers["content-type"].startswith("image/svg+xml") and b"train" in r.content
    r = client.get("/api/v1/data/lineage/events", params={"since": 1}, headers=viewer)
    assert [e["job"] for e in r.json()["events"]] == ["train"]
    r = client.get("/api/v1/data/lineage", params={"dataset": "nope"}, headers=viewer)
    assert r.status_code == 404
