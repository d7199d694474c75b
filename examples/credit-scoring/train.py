"""Generate the credit-scoring example's data and models, deterministically and offline.

Bastion's bundled example needs a realistic-looking AI system to govern: an applicant
store holding PII, a de-identified feature table, and two models in the two formats
people actually ship (a scikit-learn pickle and a PyTorch state dict). Everything here
is synthetic and seeded, so the same arguments always produce the same files, and
nothing is fetched from the network.

Usage::

    python examples/credit-scoring/train.py --out examples/credit-scoring/generated
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import json
import pickle
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

# A fixed "today" so that ages derived from dates of birth never depend on the clock.
REFERENCE_DATE = dt.date(2024, 1, 1)
PICKLE_PROTOCOL = 4
TEST_FRACTION = 0.25
LABEL = "default"

FIRST_NAMES = (
    "Alex", "Blake", "Casey", "Dana", "Elliot", "Frankie", "Gray", "Harper", "Indy", "Jordan",
    "Kai", "Logan", "Morgan", "Noel", "Oakley", "Parker", "Quinn", "Riley", "Sage", "Taylor",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Barnes", "Castillo", "Dawson", "Ellison", "Fischer", "Garcia", "Holloway",
    "Ibarra", "Jensen", "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Patel",
    "Quintero", "Rossi", "Schmidt", "Tanaka",
)  # fmt: skip
# (city, first three zip digits); zips are random within the prefix, so synthetic.
CITIES = (
    ("Springfield", "627"), ("Riverton", "824"), ("Fairview", "970"), ("Georgetown", "786"),
    ("Madison", "537"), ("Clinton", "284"), ("Salem", "973"), ("Franklin", "370"),
)  # fmt: skip
PURPOSES = (
    "debt_consolidation", "home_improvement", "auto", "education", "medical", "small_business",
)  # fmt: skip
PURPOSE_WEIGHTS = (0.38, 0.16, 0.18, 0.10, 0.08, 0.10)
# Extra log-odds of default per purpose; riskier purposes default more often.
PURPOSE_RISK = (0.2, -0.4, -0.3, 0.15, 0.5, 0.8)
LOAN_TERMS = (12, 24, 36, 48, 60)

APPLICANT_COLUMNS = (
    "applicant_id", "name", "email", "national_id", "date_of_birth", "city", "zip_code",
    "income", "employment_years", "debt_to_income", "credit_history_months",
    "num_delinquencies", "loan_amount", "loan_term_months", "purpose", LABEL,
)  # fmt: skip
NUMERIC_FEATURES = (
    "age", "income", "employment_years", "debt_to_income", "credit_history_months",
    "num_delinquencies", "loan_amount", "loan_term_months",
)  # fmt: skip
FEATURES = NUMERIC_FEATURES + tuple(f"purpose_{p}" for p in PURPOSES)
# Columns that identify a person directly; they must never reach features.csv.
IDENTIFIER_COLUMNS = ("applicant_id", "name", "email", "national_id", "date_of_birth")

GBM_PARAMS: dict[str, Any] = {
    "max_iter": 150,
    "learning_rate": 0.05,
    "max_leaf_nodes": 15,
    "l2_regularization": 1.0,
    "early_stopping": False,  # early stopping would carve out a random validation split
}
MLP_HIDDEN = (32, 16)
MLP_EPOCHS = 150
MLP_LR = 0.01
MLP_WEIGHT_DECAY = 0.01  # small data overfits quickly without it

Matrix = NDArray[np.float64]
Vector = NDArray[np.float64]


def sha256_file(path: Path) -> str:
    """Hash a file so the summary and metadata can pin exact artefacts."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def generate_applicants(n: int, seed: int) -> list[dict[str, Any]]:
    """Draw a synthetic applicant population whose default label follows the features.

    The label comes from a logistic model so that the signal is learnable but noisy,
    like real credit data, and both models reach a believable (not perfect) AUC.
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(21, 76, size=n)
    dob_offset_days = rng.integers(0, 365, size=n)
    income = np.round(rng.lognormal(np.log(52_000) + 0.006 * (age - 40), 0.45, size=n), 2)
    employment_years = np.minimum(np.floor(rng.gamma(2.0, 3.5, size=n)), age - 18).astype(int)
    debt_to_income = np.round(np.clip(rng.beta(2.2, 6.0, size=n) * 0.9, 0.0, 0.85), 4)
    credit_history_months = np.minimum(
        np.floor(rng.gamma(3.0, 30.0, size=n)) + 6, (age - 18) * 12
    ).astype(int)
    num_delinquencies = rng.poisson(0.25 + 1.2 * debt_to_income, size=n)
    loan_amount = np.clip(np.round(rng.lognormal(np.log(14_000), 0.6, size=n), -2), 1_000, 60_000)
    loan_term_months = rng.choice(np.array(LOAN_TERMS), size=n)
    purpose_idx = rng.choice(len(PURPOSES), size=n, p=np.array(PURPOSE_WEIGHTS))

    logit = (
        -2.6
        + 12.0 * (debt_to_income - 0.24)
        + 0.8 * num_delinquencies
        - 1.35 * np.log(income / 52_000)
        + 0.8 * np.log(loan_amount / 14_000)
        - 0.009 * (credit_history_months - 90)
        - 0.06 * (employment_years - 6)
        + 0.012 * (loan_term_months - 36)
        - 0.015 * (age - 45)
        + np.array(PURPOSE_RISK)[purpose_idx]
    )
    default = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(int)

    first = rng.integers(0, len(FIRST_NAMES), size=n)
    last = rng.integers(0, len(LAST_NAMES), size=n)
    city_idx = rng.integers(0, len(CITIES), size=n)
    zip_suffix = rng.integers(0, 100, size=n)
    nid = rng.integers(0, 10_000_000_000, size=n)

    rows: list[dict[str, Any]] = []
    for i in range(n):
        first_name, last_name = FIRST_NAMES[first[i]], LAST_NAMES[last[i]]
        city, zip_prefix = CITIES[city_idx[i]]
        birthday = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - int(age[i]) - 1)
        dob = birthday + dt.timedelta(days=int(dob_offset_days[i]))
        digits = f"{int(nid[i]):010d}"
        rows.append(
            {
                "applicant_id": f"APP-{i + 1:06d}",
                "name": f"{first_name} {last_name}",
                "email": f"{first_name.lower()}.{last_name.lower()}{i + 1}@example.com",
                # "SYN-" prefix: unmistakably synthetic, matches no real national ID scheme.
                "national_id": f"SYN-{digits[:3]}-{digits[3:5]}-{digits[5:]}",
                "date_of_birth": dob.isoformat(),
                "city": city,
                "zip_code": f"{zip_prefix}{int(zip_suffix[i]):02d}",
                "income": f"{income[i]:.2f}",
                "employment_years": int(employment_years[i]),
                "debt_to_income": f"{debt_to_income[i]:.4f}",
                "credit_history_months": int(credit_history_months[i]),
                "num_delinquencies": int(num_delinquencies[i]),
                "loan_amount": f"{loan_amount[i]:.0f}",
                "loan_term_months": int(loan_term_months[i]),
                "purpose": PURPOSES[purpose_idx[i]],
                LABEL: int(default[i]),
            }
        )
    return rows


def age_at_reference(date_of_birth: str) -> int:
    """Whole years between birth and REFERENCE_DATE: a feature, unlike the raw date."""
    dob = dt.date.fromisoformat(date_of_birth)
    had_birthday = (REFERENCE_DATE.month, REFERENCE_DATE.day) >= (dob.month, dob.day)
    return REFERENCE_DATE.year - dob.year - (0 if had_birthday else 1)


def to_feature_row(applicant: dict[str, Any]) -> dict[str, Any]:
    """De-identify one applicant: drop identifiers, derive age, one-hot the purpose."""
    row: dict[str, Any] = {"age": age_at_reference(applicant["date_of_birth"])}
    for name in NUMERIC_FEATURES[1:]:
        row[name] = applicant[name]
    for purpose in PURPOSES:
        row[f"purpose_{purpose}"] = int(applicant["purpose"] == purpose)
    row[LABEL] = applicant[LABEL]
    return row


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Write with fixed "\\n" line endings so bytes are identical on every platform."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def load_features(path: Path) -> tuple[Matrix, NDArray[np.int64], list[str]]:
    """Read features.csv back; models train on exactly the bytes that were hashed."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        data = np.array([[float(v) for v in row] for row in reader], dtype=np.float64)
    label_col = header.index(LABEL)
    names = [h for h in header if h != LABEL]
    x = np.delete(data, label_col, axis=1)
    y = data[:, label_col].astype(np.int64)
    return x, y, names


def split(
    x: Matrix, y: NDArray[np.int64], seed: int
) -> tuple[Matrix, Matrix, NDArray[np.int64], NDArray[np.int64]]:
    """Seeded, stratified hold-out split shared by both models so metrics compare."""
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=seed, stratify=y
    )
    return x_tr, x_te, y_tr, y_te


def metrics(y_true: NDArray[np.int64], proba: Vector) -> dict[str, float]:
    """Held-out AUC and accuracy at a 0.5 threshold, rounded for stable JSON."""
    return {
        "auc": round(float(roc_auc_score(y_true, proba)), 6),
        "accuracy": round(float(accuracy_score(y_true, (proba >= 0.5).astype(int))), 6),
    }


def train_gbm(x_tr: Matrix, y_tr: NDArray[np.int64], seed: int) -> HistGradientBoostingClassifier:
    """Fit the gradient-boosted "credit-gbm" model on one OpenMP thread.

    The fitted model records its thread count, so pinning it to 1 keeps the pickle
    byte-identical whatever machine builds it (the trees are identical either way).
    """
    model = HistGradientBoostingClassifier(random_state=seed, **GBM_PARAMS)
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(x_tr, y_tr)
    return model


def make_mlp(n_inputs: int, hidden: Sequence[int] = MLP_HIDDEN) -> torch.nn.Sequential:
    """Build the MLP architecture; loaders rebuild it from metadata to load the state dict."""
    layers: list[torch.nn.Module] = []
    width = n_inputs
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)


@contextlib.contextmanager
def deterministic_torch(seed: int) -> Iterator[None]:
    """Pin torch's seed, algorithms and threads, restoring global state afterwards.

    One thread avoids reduction-order differences between machines; restoring keeps
    callers (e.g. a test session) from inheriting our settings.
    """
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_threads = torch.get_num_threads()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev_det)
        torch.set_num_threads(prev_threads)


def standardise(x: Matrix, means: Vector, stds: Vector) -> torch.Tensor:
    """Scale features the way the MLP was trained; callers must reuse stored means/stds."""
    return torch.from_numpy(((x - means) / stds).astype(np.float32))


def train_mlp(
    x_tr: Matrix, y_tr: NDArray[np.int64], seed: int
) -> tuple[torch.nn.Sequential, Vector, Vector]:
    """Fit the "credit-mlp" model full-batch, so no shuffling order can vary."""
    means = x_tr.mean(axis=0)
    stds = x_tr.std(axis=0)
    stds[stds == 0] = 1.0  # a constant column (e.g. a rare purpose) must not divide by 0
    with deterministic_torch(seed):
        model = make_mlp(x_tr.shape[1])
        inputs = standardise(x_tr, means, stds)
        target = torch.from_numpy(y_tr.astype(np.float32)).unsqueeze(1)
        optimiser = torch.optim.Adam(model.parameters(), lr=MLP_LR, weight_decay=MLP_WEIGHT_DECAY)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        model.train()
        for _ in range(MLP_EPOCHS):
            optimiser.zero_grad()
            loss = loss_fn(model(inputs), target)
            loss.backward()
            optimiser.step()
        model.eval()
    return model, means, stds


def predict_mlp(model: torch.nn.Sequential, x: Matrix, means: Vector, stds: Vector) -> Vector:
    """Default probabilities from the MLP, as float64 for sklearn metrics."""
    with torch.no_grad():
        logits = model(standardise(x, means, stds)).squeeze(1)
        return torch.sigmoid(logits).numpy().astype(np.float64)


def load_gbm(model_dir: Path) -> HistGradientBoostingClassifier:
    """Unpickle credit-gbm. Only for files this script wrote: pickle runs code on load."""
    with (model_dir / "model.pkl").open("rb") as fh:
        model: HistGradientBoostingClassifier = pickle.load(fh)
    return model


def load_mlp(model_dir: Path) -> tuple[torch.nn.Sequential, Vector, Vector]:
    """Rebuild credit-mlp from metadata.json and its weights-only state dict."""
    meta = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    model = make_mlp(len(meta["features"]), meta["architecture"]["hidden"])
    model.load_state_dict(torch.load(model_dir / "model.pt", weights_only=True))
    model.eval()
    means = np.array(meta["standardisation"]["means"], dtype=np.float64)
    stds = np.array(meta["standardisation"]["stds"], dtype=np.float64)
    return model, means, stds


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Sorted keys and a trailing newline keep the metadata byte-stable and diffable."""
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def build(out_dir: Path, n_applicants: int = 5000, seed: int = 7) -> dict[str, Any]:
    """Generate the dataset, train both models and write everything under out_dir.

    Returns a summary: output paths, row counts, held-out metrics per model and the
    SHA-256 of every file written (keyed by path relative to out_dir).
    """
    out_dir = Path(out_dir)
    gbm_dir = out_dir / "models" / "credit-gbm"
    mlp_dir = out_dir / "models" / "credit-mlp"
    gbm_dir.mkdir(parents=True, exist_ok=True)
    mlp_dir.mkdir(parents=True, exist_ok=True)

    applicants = generate_applicants(n_applicants, seed)
    applicants_csv = out_dir / "applicants.csv"
    features_csv = out_dir / "features.csv"
    write_csv(applicants_csv, APPLICANT_COLUMNS, applicants)
    write_csv(features_csv, (*FEATURES, LABEL), [to_feature_row(a) for a in applicants])

    x, y, names = load_features(features_csv)
    x_tr, x_te, y_tr, y_te = split(x, y, seed)
    training_data = {
        "path": "features.csv",
        "sha256": sha256_file(features_csv),
        "rows": len(y),
        "train_rows": len(y_tr),
        "test_rows": len(y_te),
        "test_fraction": TEST_FRACTION,
        "split_seed": seed,
        "label": LABEL,
    }

    gbm = train_gbm(x_tr, y_tr, seed)
    gbm_metrics = metrics(y_te, gbm.predict_proba(x_te)[:, 1])
    gbm_path = gbm_dir / "model.pkl"
    with gbm_path.open("wb") as fh:
        pickle.dump(gbm, fh, protocol=PICKLE_PROTOCOL)
    write_json(
        gbm_dir / "metadata.json",
        {
            "name": "credit-gbm",
            "framework": "scikit-learn",
            "framework_version": sklearn.__version__,
            "model_class": "sklearn.ensemble.HistGradientBoostingClassifier",
            "hyperparameters": {**GBM_PARAMS, "random_state": seed},
            "artifact": {
                "path": "model.pkl",
                "format": "pickle",
                "pickle_protocol": PICKLE_PROTOCOL,
                "sha256": sha256_file(gbm_path),
            },
            "features": names,
            "metrics": gbm_metrics,
            "training_data": training_data,
        },
    )

    mlp, means, stds = train_mlp(x_tr, y_tr, seed)
    mlp_metrics = metrics(y_te, predict_mlp(mlp, x_te, means, stds))
    mlp_path = mlp_dir / "model.pt"
    torch.save(mlp.state_dict(), mlp_path)
    write_json(
        mlp_dir / "metadata.json",
        {
            "name": "credit-mlp",
            "framework": "pytorch",
            "framework_version": torch.__version__,
            "model_class": "torch.nn.Sequential",
            "architecture": {"inputs": len(names), "hidden": list(MLP_HIDDEN), "outputs": 1},
            "hyperparameters": {
                "epochs": MLP_EPOCHS,
                "batch": "full",
                "optimizer": "Adam",
                "lr": MLP_LR,
                "weight_decay": MLP_WEIGHT_DECAY,
                "seed": seed,
            },
            "artifact": {
                "path": "model.pt",
                "format": "torch-state-dict",
                "sha256": sha256_file(mlp_path),
            },
            "features": names,
            "standardisation": {"means": means.tolist(), "stds": stds.tolist()},
            "metrics": mlp_metrics,
            "training_data": training_data,
        },
    )

    # Only what this run wrote: out_dir may hold unrelated files we must not vouch for.
    written = (
        applicants_csv,
        features_csv,
        gbm_path,
        gbm_dir / "metadata.json",
        mlp_path,
        mlp_dir / "metadata.json",
    )
    return {
        "out_dir": str(out_dir),
        "seed": seed,
        "paths": {
            "applicants": str(applicants_csv),
            "features": str(features_csv),
            "credit-gbm": str(gbm_dir),
            "credit-mlp": str(mlp_dir),
        },
        "rows": {
            "applicants": len(applicants),
            "features": len(y),
            "train": len(y_tr),
            "test": len(y_te),
            "default_rate": round(float(y.mean()), 6),
        },
        "metrics": {"credit-gbm": gbm_metrics, "credit-mlp": mlp_metrics},
        "files": {p.relative_to(out_dir).as_posix(): sha256_file(p) for p in written},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: build into --out and print a short human summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--rows", type=int, default=5000, help="number of applicants")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    args = parser.parse_args(argv)
    if args.rows < 100:
        parser.error("--rows must be at least 100 so the hold-out split has both classes")

    started = time.perf_counter()
    summary = build(args.out, n_applicants=args.rows, seed=args.seed)
    elapsed = time.perf_counter() - started

    rows = summary["rows"]
    print(f"Wrote {summary['out_dir']} in {elapsed:.1f}s (seed {summary['seed']})")
    print(
        f"  {rows['applicants']} applicants, default rate {rows['default_rate']:.1%}, "
        f"split {rows['train']} train / {rows['test']} test"
    )
    for name, m in summary["metrics"].items():
        print(f"  {name}: AUC {m['auc']:.3f}, accuracy {m['accuracy']:.3f} (held out)")
    for rel, digest in summary["files"].items():
        print(f"  {digest[:12]}  {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
