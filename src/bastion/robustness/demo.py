"""The robustness room's part of ``bastion demo`` (issue 10, "done when"): a red-team
campaign against a digits model (trained here on scikit-learn's bundled digits and written
as ONNX, so nothing is downloaded), membership inference against it, and the LLM probes
against the example's LLM endpoint, played by the deliberately vulnerable local server.
Everything is recorded as evidence; the campaign and LLM reports are written to files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bastion.core.workspace import Workspace

__all__ = ["demo_story", "digits_onnx"]

Say = Callable[[str, str], None]


def _train_digits(seed: int = 0) -> tuple[Any, Any, Any, Any, Any]:
    import torch
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        xt, yt = torch.from_numpy(x[:1200]), torch.from_numpy(y[:1200])
        for _ in range(150):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt), yt).backward()  # type: ignore[no-untyped-call]
            opt.step()
    finally:
        torch.set_num_threads(prev)
    return model.eval(), x[:1200], y[:1200], x[1200:], y[1200:]


def digits_onnx(model: Any, n_inputs: int = 64) -> bytes:
    """The MLP (Linear/ReLU layers) as an ONNX Gemm/Relu graph returning logits."""
    import torch
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []
    cur = "x"
    for i, layer in enumerate(model):
        out = f"h{i}"
        if isinstance(layer, torch.nn.Linear):
            inits += [
                numpy_helper.from_array(layer.weight.detach().numpy(), f"w{i}"),
                numpy_helper.from_array(layer.bias.detach().numpy(), f"b{i}"),
            ]
            nodes.append(helper.make_node("Gemm", [cur, f"w{i}", f"b{i}"], [out], transB=1))
        elif isinstance(layer, torch.nn.ReLU):
            nodes.append(helper.make_node("Relu", [cur], [out]))
        else:
            raise TypeError(f"digits_onnx: unsupported layer {type(layer).__name__}")
        cur = out
    graph = helper.make_graph(
        nodes,
        "digits-mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", n_inputs])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, ["n", 10])],
        initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return bytes(m.SerializeToString())


_CAMPAIGN = """kind: RedTeamCampaign
name: demo-digits
description: the demo's evasion exercise on the digits model
seed: 1
targets:
  - id: digits
    model: digits.onnx
    data: digits-test.npz
    samples: 120
    name: demo/digits-mlp
attacks:
  - id: fgsm
    attack: fgsm
    eps: [0.05, 0.1, 0.2]
  - id: pgd
    attack: pgd
    eps: [0.05, 0.1, 0.2]
    steps: 20
thresholds:
  - metric: pgd.robust_accuracy_at_eps_0_05
    min: 0.3
"""


def demo_story(ws: Workspace, out_dir: Path, say: Say) -> dict[str, str]:
    """Run the three exercises; ``say(title, detail)`` prints one line each. Returns the
    evidence ids by exercise."""
    from bastion.core.checks import run_check
    from bastion.core.executor import InlineExecutor
    from bastion.core.types import Subject
    from bastion.robustness import MembershipCheck, TorchTarget, membership_from_params
    from bastion.robustness.campaign import (
        campaign_report_html,
        load_campaign,
        record_campaign,
        run_campaign,
    )
    from bastion.robustness.llm import probe_endpoint, record_llm_probes, write_report
    from bastion.robustness.llm.testservers import serve

    out_dir.mkdir(parents=True, exist_ok=True)
    model, xtr, ytr, xte, yte = _train_digits()
    (out_dir / "digits.onnx").write_bytes(digits_onnx(model))
    np.savez(out_dir / "digits-test.npz", x=xte, y=yte)
    (out_dir / "campaign.yaml").write_text(_CAMPAIGN, encoding="utf-8")
    ids: dict[str, str] = {}

    result = run_campaign(load_campaign(out_dir / "campaign.yaml"), executor=InlineExecutor())
    (ev,) = record_campaign(ws, result, actor="demo")
    report = out_dir / "campaign-report.html"
    report.write_text(campaign_report_html(result), encoding="utf-8")
    ids["campaign"] = ev.id
    t = result.targets[0]
    pgd = t.metrics.get("pgd", {})
    curve = ", ".join(
        f"eps {k.removeprefix('robust_accuracy_at_eps_').replace('_', '.')}: {float(v):.2f}"
        for k, v in pgd.items()
        if k.startswith("robust_accuracy_at_") and isinstance(v, float)
    )
    say(
        "Red-team campaign on the digits model",
        f"{ev.verdict.value}; clean {float(pgd.get('clean_accuracy') or 0):.2f}, PGD {curve}; "
        f"{len(t.metrics)} attacks; report {report.name}",
    )

    target = TorchTarget(model, (64,))
    params: dict[str, Any] = {
        "target": target,
        "members": (xtr[:400], ytr[:400]),
        "nonmembers": (xte[:400], yte[:400]),
        "bootstrap": 200,
        "max_auc": 0.7,
    }
    prepared = membership_from_params(params)
    mev = run_check(ws, MembershipCheck(prepared), Subject("model", "demo/digits-mlp"),
                    actor="demo", params={"max_auc": 0.7})  # fmt: skip
    ids["membership"] = mev.id
    rep = prepared[0]
    say(
        "Membership inference on the digits model",
        f"{mev.verdict.value}; loss-threshold AUC {rep.auc:.3f} "
        f"(95% CI {rep.auc_ci[0]:.3f}-{rep.auc_ci[1]:.3f}), empirical epsilon >= "
        f"{rep.empirical_epsilon:.2f}",
    )

    with serve("vulnerable") as srv:
        llm = probe_endpoint(srv.url, seed=1)
    write_report(llm, out_dir / "llm-probes.html")
    lev = record_llm_probes(ws, llm, ref="credit-scoring/assistant-llm", actor="demo")
    ids["llm"] = lev.id
    say(
        "LLM probes against the example's LLM endpoint (vulnerable local server)",
        f"{lev.verdict.value}; {len(llm.found_probes)} of {len(llm.attempts)} probes found a "
        f"weakness in {len(llm.findings)} findings (OWASP LLM Top 10 2025, ATLAS); report "
        "llm-probes.html",
    )
    return ids
