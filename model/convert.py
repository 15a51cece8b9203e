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
