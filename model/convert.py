"""ONNX graph transforms that need no torch: fp16 -> fp32 widening and int8 dynamic quantization.

The shipped model is the fp16 graph; the CPU int8 model is derived from it with :func:`derive_int8`
(on first use, then cached), so git carries one ~45 MB file instead of two.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from finsentry.errors import ModelError

_F16, _F32 = TensorProto.FLOAT16, TensorProto.FLOAT


def _widen_graph(graph: onnx.GraphProto) -> None:
    for i, init in enumerate(graph.initializer):
        if init.data_type == _F16:
            arr = numpy_helper.to_array(init).astype(np.float32)
            graph.initializer[i].CopyFrom(numpy_helper.from_array(arr, init.name))
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        if vi.type.tensor_type.elem_type == _F16:
            vi.type.tensor_type.elem_type = _F32
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == _F16:
                attr.i = _F32
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == _F16:
                arr = numpy_helper.to_array(attr.t).astype(np.float32)
                attr.t.CopyFrom(numpy_helper.from_array(arr, attr.t.name))
            if attr.type == onnx.AttributeProto.GRAPH:
                _widen_graph(attr.g)


def fp16_to_fp32(model: onnx.ModelProto) -> onnx.ModelProto:
    """Same graph with every float16 tensor, cast and constant widened to float32 (Casts become no-ops)."""
    widened = onnx.ModelProto()
    widened.CopyFrom(model)
    _widen_graph(widened.graph)
    return widened


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantization (weights int8, activations quantized at run time) for the CPU path."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs per-tensor INFO and advisory WARNING lines on the root logger
    try:
        quantize_dynamic(
            str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False,
            op_types_to_quantize=["MatMul", "Attention", "Gemm"],
        )
    finally:
        root.setLevel(level)


def quantize_embedding_rows(model: onnx.ModelProto, min_rows: int = 10_000) -> int:
    """Every ``Gather`` from a large fp32 table -> int8 table + one fp32 scale per row; returns bytes saved.

    ORT's dynamic quantizer leaves embedding tables in fp32 (inside the fused EmbedLayerNormalization)
    or quantizes them per tensor; per-row symmetric int8 keeps each vocabulary row's own range. The graph
    becomes ``Gather(int8) -> Cast(float) -> Mul(Gather(scale))``, the same output shape.
    """
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    saved = 0
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        init = inits.get(node.input[0]) if node.op_type == "Gather" else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        arr = numpy_helper.to_array(init) if init is not None else None
        if arr is None or axis != 0 or arr.dtype != np.float32 or arr.ndim != 2 or arr.shape[0] < min_rows:
            nodes.append(node)
            continue
        scale = (np.abs(arr).max(axis=1, keepdims=True) / 127.0).astype(np.float32)
        scale[scale == 0] = 1.0
        q = np.clip(np.round(arr / scale), -127, 127).astype(np.int8)
        name, ids, out = node.input[0], node.input[1], node.output[0]
        graph.initializer.remove(init)
        graph.initializer.extend([numpy_helper.from_array(q, f"{name}_int8"),
                                  numpy_helper.from_array(scale, f"{name}_row_scale")])
        nodes += [
            onnx.helper.make_node("Gather", [f"{name}_int8", ids], [f"{out}_q"], name=f"{node.name}_q"),
            onnx.helper.make_node("Cast", [f"{out}_q"], [f"{out}_qf"], to=_F32, name=f"{node.name}_cast"),
            onnx.helper.make_node("Gather", [f"{name}_row_scale", ids], [f"{out}_s"], name=f"{node.name}_s"),
            onnx.helper.make_node("Mul", [f"{out}_qf", f"{out}_s"], [out], name=f"{node.name}_dq"),
        ]
        saved += arr.nbytes - q.nbytes - scale.nbytes
    del graph.node[:]
    graph.node.extend(nodes)
    return saved


def derive_int8_with_embeddings(fp16_path: Path, dst: Path) -> Path:
    """fp16 ONNX (embeddings not fused) -> :func:`derive_int8` + per-row int8 embedding table at ``dst``."""
    derive_int8(fp16_path, dst)
    model = onnx.load(str(dst))
    if not quantize_embedding_rows(model):
        raise ModelError(f"{fp16_path}: no embedding Gather to quantize (is EmbedLayerNormalization fused?)")
    with tempfile.TemporaryDirectory(dir=Path(dst).parent) as tmp:
        out = Path(tmp) / "int8.onnx"
        onnx.save(model, str(out))
        os.replace(out, dst)
    return Path(dst)


def derive_int8(fp16_path: Path, dst: Path) -> Path:
    """fp16 ONNX -> fp32 -> int8 at ``dst`` (written atomically; a concurrent writer is harmless)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        model = onnx.load(str(fp16_path))
    except Exception as exc:  # onnx raises bare DecodeError/OSError variants
        raise ModelError(f"cannot read {fp16_path}: {exc}") from exc
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        onnx.save(fp16_to_fp32(model), str(fp32))
        out = Path(tmp) / "int8.onnx"
        quantize_int8(fp32, out)
        os.replace(out, dst)
    return dst
