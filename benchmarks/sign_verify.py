"""Claim: Bastion signs and verifies a model at >= 2x OpenSSF model_signing's throughput.

Two inputs under /tmp (deleted afterwards): a "large" model of 8 files (2 GiB in all) and
a "many" model of 20,000 small files. For each, Bastion (sign_model + verify_model) and
model_signing (its Python API, key method, same P-256 key) sign and verify the same
directory in the same run; ``sha256sum`` over the same files is the floor. Bastion also
signs with BLAKE3 (its selectable digest; model_signing cannot verify those signatures). Page cache is
warmed first, so all three read from memory. Medians of --runs repetitions.

    python benchmarks/sign_verify.py            # 2 GiB + 20,000 files
    python benchmarks/sign_verify.py --small    # 256 MiB + 2,000 files
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import median_of, print_table, write_results
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bastion.integrity import HashAlgorithm, load_signing_key, sign_model, verify_model


def make_large(root: Path, files: int, size: int) -> None:
    root.mkdir(parents=True)
    block = os.urandom(16 * 1024 * 1024)
    for i in range(files):
        with (root / f"model-{i:05d}-of-{files:05d}.safetensors").open("wb") as f:
            left = size
            while left:
                n = min(left, len(block))
                f.write(block[:n])
                left -= n


def make_many(root: Path, files: int) -> None:
    for i in range(files):
        d = root / f"shard{i // 1000:03d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"part-{i:06d}.bin").write_bytes(os.urandom(512 + (i * 37) % 7680))


def keys(d: Path) -> tuple[Path, Path]:
    k = ec.generate_private_key(ec.SECP256R1())
    priv, pub = d / "k.pem", d / "k.pub"
    priv.write_bytes(
        k.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(priv, 0o600)
    pub.write_bytes(
        k.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub


def bench(model: Path, work: Path, runs: int) -> dict[str, object]:
    import model_signing

    priv, pub = keys(work)
    key = load_signing_key(priv)
    b_sig, m_sig = work / "bastion.sig", work / "ms.sig"
    total = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    subprocess.run(
        ["cat", *[str(p) for p in model.rglob("*") if p.is_file()]],
        stdout=subprocess.DEVNULL,
        check=True,
    )

    def b_sign() -> None:
        sign_model(model, key, signature_path=b_sig)

    def b_verify() -> None:
        assert verify_model(model, [b_sig], public_keys=[pub]).ok

    b3_sig = work / "bastion-blake3.sig"

    def b3_sign() -> None:
        sign_model(model, key, signature_path=b3_sig, algorithm=HashAlgorithm.BLAKE3)

    def b3_verify() -> None:
        assert verify_model(model, [b3_sig], public_keys=[pub]).ok

    def m_sign() -> None:
        model_signing.signing.Config().use_elliptic_key_signer(private_key=priv).sign(model, m_sig)

    def m_verify() -> None:
        model_signing.verifying.Config().use_elliptic_key_verifier(public_key=pub).verify(
            model, m_sig
        )

    def sha256sum() -> None:
        subprocess.run(
            f"find {model} -type f -print0 | xargs -0 -P {os.cpu_count()} -n 256 sha256sum > /dev/null",
            shell=True,
            check=True,
        )

    out: dict[str, object] = {
        "bytes": total,
        "files": sum(1 for p in model.rglob("*") if p.is_file()),
    }
    for name, fn in [
        ("bastion_sign", b_sign),
        ("bastion_verify", b_verify),
        ("bastion_blake3_sign", b3_sign),
        ("bastion_blake3_verify", b3_verify),
        ("model_signing_sign", m_sign),
        ("model_signing_verify", m_verify),
        ("sha256sum", sha256sum),
    ]:
        med, samples, _ = median_of(runs, fn)
        out[name] = {"median_s": med, "samples_s": samples, "mib_s": total / 2**20 / med}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    n_large, size = (8, 32 * 2**20) if args.small else (8, 256 * 2**20)
    n_many = 2000 if args.small else 20000
    base = Path(tempfile.mkdtemp(prefix="bastion-bench-sign-", dir="/tmp"))
    results: dict[str, object] = {}
    try:
        for label, make in [
            ("large", lambda p: make_large(p, n_large, size)),
            ("many", lambda p: make_many(p, n_many)),
        ]:
            model = base / label / "model"
            make(model)
            results[label] = bench(model, base / label, args.runs)
            shutil.rmtree(base / label)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    rows = []
    for label, r in results.items():
        assert isinstance(r, dict)
        for op in ("sign", "verify"):
            b, m = r[f"bastion_{op}"], r[f"model_signing_{op}"]
            rows.append(
                [
                    label,
                    op,
                    r["files"],
                    f"{r['bytes'] / 2**20:,.0f}",
                    f"{b['mib_s']:,.0f}",
                    f"{m['mib_s']:,.0f}",
                    f"{r['sha256sum']['mib_s']:,.0f}",
                    f"{b['mib_s'] / m['mib_s']:.2f}x",
                    f"{r[f'bastion_blake3_{op}']['mib_s']:,.0f}",
                    f"{r[f'bastion_blake3_{op}']['mib_s'] / m['mib_s']:.2f}x",
                ]
            )
    print_table(
        [
            "input",
            "op",
            "files",
            "MiB",
            "bastion MiB/s",
            "model_signing MiB/s",
            "sha256sum MiB/s",
            "ratio",
            "bastion blake3 MiB/s",
            "blake3 ratio",
        ],
        rows,
    )
    path = write_results(
        "sign_verify",
        {
            "small": args.small,
            "runs": args.runs,
            "results": results,
            "goal": ">= 2x model_signing throughput",
        },
    )
    print(f"results: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
