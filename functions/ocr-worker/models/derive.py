#!/usr/bin/env python3
"""Derives the OCR function's models from the official ocrs models.

    python3 -m venv /tmp/derive && /tmp/derive/bin/pip install -r requirements.txt
    /tmp/derive/bin/python derive.py --detection PATH/text-detection.onnx \
        --recognition PATH/text-recognition.onnx [--out DIR] [--check]

The inputs are the published models (Robert Knight, CC BY-SA 4.0) as the
crates ikvmt-ocr-detection / ikvmt-ocr-recognition 0.2.0 ship them; their
SHA-256 is verified before anything is derived. The output is deterministic
(same inputs, same bytes), and so are CC BY-SA 4.0 too. Three files:

text-detection-fitted.onnx
    The detection U-Net with its input and output dims made symbolic. The
    exported graph crops each upsampled tensor with a `Slice` whose `ends`
    are constants computed for 800x600; each is replaced by the runtime
    height/width of the skip tensor it is concatenated with, so the network
    runs at the image's own size (a multiple of 32) instead of always at
    800x600. Weights are stored as int8 per output channel and dequantized
    once when the model loads (`DequantizeLinear` of constants is folded by
    RTen's optimizer): compute stays f32, the file is 4x smaller.

text-recognition-cnn-int8.onnx
    The recognition model's convolutional part, line image [1, 1, 64, W] ->
    features [1, 128, 1, T]. Every Conv is dynamically quantized: the
    weights are 7-bit int8 per output channel (in [-63, 63], so that x86
    CPUs without VNNI cannot saturate: see CNN_WEIGHT_LEVELS), the activations are quantized at
    run time (`DynamicQuantizeLinear` + `ConvInteger`), and the int32 result
    is scaled back to f32. Two RTen 0.26 ConvInteger faults are avoided by
    construction: padding is an explicit f32 `Pad` before quantization (its
    im2col pads with 0, not the zero point), and the model is meant to run one
    line at a time (batched prepacking drops the quantization parameters).

text-recognition-rnn.onnx
    The rest: two bidirectional GRUs, the classifier and LogSoftmax,
    features [N, 128, 1, T] -> log-probabilities [T, N, 97]. It runs f32
    (RTen has no quantized GRU) on small batches of lines; its weights are
    stored int8 per row like the detector's.

--check runs the originals and the derived models with onnxruntime on
synthetic inputs and prints how far apart their outputs are.
"""

import argparse
import hashlib
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DETECTION_SHA256 = "a917b23dbd9524b465df7e922641b3ff2981623df4ded5a0234004ef2fee7cfe"
RECOGNITION_SHA256 = "86c145c2edb96c8caed5b1ebb8f44d706408922211451c309c625157dd6061c5"

# Where the recognition model's CNN ends and its recurrent part begins.
CNN_OUTPUT = "/conv/conv.21/AveragePool_output_0"


def load_verified(path, sha256):
    data = open(path, "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        sys.exit(f"{path}: SHA-256 {digest}, expected {sha256}: not the published model")
    return onnx.load_from_string(data)


class Names:
    """Fresh, deterministic tensor names."""

    def __init__(self, prefix):
        self.prefix, self.n = prefix, 0

    def __call__(self, what):
        self.n += 1
        return f"{self.prefix}/{what}_{self.n}"


# The CNN's int8 weights use 7 bits ("range reduced", rten's
# docs/quantization.md). x86-64 CPUs without AVX-512 VNNI multiply u8
# activations by i8 weights with VPMADDUBSW, whose pairwise 16-bit sums
# saturate once 255 * |w| * 2 > 32767: with weights up to 127 the AVX2
# kernel read nothing at all. With |w| <= 63 the largest pair sum is 32130,
# so every kernel (AVX2, AVX-512 with or without VNNI, Arm, generic)
# computes the same exact integers. Weights that are only stored as int8 and
# dequantized to f32 at load keep the full 8 bits.
CNN_WEIGHT_LEVELS = 63
STORED_WEIGHT_LEVELS = 127


def per_channel_int8(weight, axis=0, levels=STORED_WEIGHT_LEVELS):
    """Symmetric int8 quantization along `axis` to [-levels, levels]: (q, scale) with w ~ q * scale."""
    moved = np.moveaxis(weight, axis, 0)
    flat = moved.reshape(moved.shape[0], -1)
    scale = np.abs(flat).max(axis=1) / float(levels)
    scale[scale == 0] = 1.0
    shape = [1] * weight.ndim
    shape[axis] = -1
    q = np.clip(np.round(weight / scale.reshape(shape)), -levels, levels).astype(np.int8)
    return q, scale.astype(np.float32)


def store_weights_int8(graph, names, min_elements=4096, axis_for=lambda name: 0):
    """Replaces large f32 initializers by int8 + DequantizeLinear (folded at load)."""
    new_inits, new_nodes = [], []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        value = numpy_helper.to_array(init)
        if value.size < min_elements or value.ndim < 2:
            continue
        axis = axis_for(init.name)
        q, scale = per_channel_int8(value, axis)
        graph.initializer.remove(init)
        q_name, s_name, z_name = names("w_int8"), names("w_scale"), names("w_zero")
        new_inits += [
            numpy_helper.from_array(q, q_name),
            numpy_helper.from_array(scale, s_name),
            numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), z_name),
        ]
        new_nodes.append(
            helper.make_node("DequantizeLinear", [q_name, s_name, z_name], [init.name], axis=axis, name=names("dq"))
        )
    graph.initializer.extend(new_inits)
    # Constants first, so the node list stays topologically sorted.
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(new_nodes + nodes)


def make_dims_symbolic(value_info, names):
    for dim, name in zip(value_info.type.tensor_type.shape.dim, names):
        if name is not None:
            dim.Clear()
            dim.dim_param = name


def derive_detection(model):
    graph = model.graph
    names = Names("fitted")
    producers = {out: node for node in graph.node for out in node.output}
    consumers = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)

    inserted = []  # (before node, new nodes)
    fixed = 0
    for concat in [n for n in graph.node if n.op_type == "Concat"]:
        cropped, skip = concat.input
        slice_w = producers.get(cropped)
        slice_h = producers.get(slice_w.input[0]) if slice_w is not None else None
        if slice_w is None or slice_h is None or slice_w.op_type != "Slice" or slice_h.op_type != "Slice":
            continue
        shape = names("skip_shape")
        new = [helper.make_node("Shape", [skip], [shape], name=names("shape"))]
        for node, axis in ((slice_h, 2), (slice_w, 3)):
            starts, ends = names("starts"), names("ends")
            graph.initializer.extend(
                [
                    numpy_helper.from_array(np.array([axis], np.int64), starts),
                    numpy_helper.from_array(np.array([axis + 1], np.int64), ends),
                ]
            )
            end = names("skip_dim")
            new.append(helper.make_node("Slice", [shape, starts, ends], [end], name=names("dim")))
            node.input[2] = end
        inserted.append((slice_h, new))
        fixed += 2
    if fixed != 12:
        sys.exit(f"expected 12 fixed-size Slice nodes in the detection model, found {fixed}")
    for before, new in inserted:
        index = list(graph.node).index(before)
        for offset, node in enumerate(new):
            graph.node.insert(index + offset, node)

    used = {i for node in graph.node for i in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    make_dims_symbolic(graph.input[0], [None, None, "height", "width"])
    make_dims_symbolic(graph.output[0], [None, None, "height", "width"])
    del graph.value_info[:]
    store_weights_int8(graph, names)
    onnx.checker.check_model(model)
    return model


def subgraph(model, inputs, outputs, input_infos, output_infos):
    """The nodes of `model` that lie between `inputs` and `outputs`."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    needed, stack = set(), list(outputs)
    while stack:
        name = stack.pop()
        node = producers.get(name)
        if name in inputs or node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(i for i in node.input if i)
    nodes = [n for n in graph.node if id(n) in needed]
    used = {i for n in nodes for i in n.input}
    inits = [i for i in graph.initializer if i.name in used]
    part = helper.make_graph(nodes, graph.name, input_infos, output_infos, inits)
    return helper.make_model(part, opset_imports=list(model.opset_import), ir_version=model.ir_version)


def quantize_cnn(model, levels=CNN_WEIGHT_LEVELS):
    graph = model.graph
    names = Names("int8")
    inits = {i.name: i for i in graph.initializer}
    rebuilt = []
    used = set()
    for node in graph.node:
        if node.op_type != "Conv":
            rebuilt.append(node)
            continue
        x, w_name, b_name = node.input
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weight = numpy_helper.to_array(inits[w_name])
        bias = numpy_helper.to_array(inits[b_name])
        used.update([w_name, b_name])
        q, w_scale = per_channel_int8(weight, 0, levels)
        pads = attrs.get("pads", [0, 0, 0, 0])
        padded = x
        if any(pads):
            # ONNX Pad takes [x1_begin, x2_begin, ..., x1_end, x2_end, ...]
            # over all four NCHW axes; Conv's pads cover only H and W.
            top, left, bottom, right = pads
            pad_values, padded = names("pads"), names("padded")
            graph.initializer.append(
                numpy_helper.from_array(np.array([0, 0, top, left, 0, 0, bottom, right], np.int64), pad_values)
            )
            rebuilt.append(helper.make_node("Pad", [x, pad_values], [padded], mode="constant", name=names("pad")))
        xq, xs, xz = names("x_q"), names("x_scale"), names("x_zero")
        rebuilt.append(helper.make_node("DynamicQuantizeLinear", [padded], [xq, xs, xz], name=names("quantize")))
        wq, acc, acc_f, scaled, combined = names("w_q"), names("acc"), names("acc_f"), names("scaled"), names("w_scale")
        bias_name = names("bias")
        graph.initializer.extend(
            [
                numpy_helper.from_array(q, wq),
                numpy_helper.from_array(w_scale.reshape(1, -1, 1, 1), combined),
                numpy_helper.from_array(bias.astype(np.float32).reshape(1, -1, 1, 1), bias_name),
            ]
        )
        conv_attrs = {k: v for k, v in attrs.items() if k != "pads"}
        # An explicit (zero) weight zero point lets RTen fuse the conv with
        # the cast and the activation scale (ConvIntegerToFloat).
        wz = names("w_zero")
        graph.initializer.append(numpy_helper.from_array(np.zeros((), np.int8), wz))
        rebuilt.append(helper.make_node("ConvInteger", [xq, wq, xz, wz], [acc], name=names("conv"), **conv_attrs))
        rebuilt.append(helper.make_node("Cast", [acc], [acc_f], to=TensorProto.FLOAT, name=names("cast")))
        x_scaled = names("x_scaled")
        rebuilt.append(helper.make_node("Mul", [acc_f, xs], [x_scaled], name=names("mul")))
        rebuilt.append(helper.make_node("Mul", [x_scaled, combined], [scaled], name=names("mul")))
        rebuilt.append(helper.make_node("Add", [scaled, bias_name], [node.output[0]], name=names("add")))
    del graph.node[:]
    graph.node.extend(rebuilt)
    for name in used:
        graph.initializer.remove(inits[name])
    del graph.value_info[:]
    model.opset_import[0].version = max(model.opset_import[0].version, 11)
    onnx.checker.check_model(model)
    return model


def derive_recognition(model):
    features = helper.make_tensor_value_info(CNN_OUTPUT, TensorProto.FLOAT, ["batch", 128, 1, "steps"])
    line = helper.make_tensor_value_info("line_image", TensorProto.FLOAT, [1, 1, 64, "width"])
    line_features = helper.make_tensor_value_info(CNN_OUTPUT, TensorProto.FLOAT, [1, 128, 1, "steps"])
    chars = helper.make_tensor_value_info("chars", TensorProto.FLOAT, ["steps", "batch", 97])
    cnn = subgraph(model, ["line_image"], [CNN_OUTPUT], [line], [line_features])
    cnn = quantize_cnn(cnn)
    rnn = subgraph(model, [CNN_OUTPUT], ["chars"], [features], [chars])
    # GRU weights are [directions, 3*hidden, inputs]: one scale per gate row.
    store_weights_int8(rnn.graph, Names("rnn"), axis_for=lambda name: 1 if "GRU" in name else 0)
    onnx.checker.check_model(rnn)
    return cnn, rnn


def save(model, path):
    model.producer_name = "serverless-ocr derive.py"
    model.producer_version = "1"
    data = model.SerializeToString(deterministic=True)
    with open(path, "wb") as f:
        f.write(data)
    print(f"{path}: {len(data)} bytes, SHA-256 {hashlib.sha256(data).hexdigest()}")


def check(detection, recognition, out):
    import onnxruntime as ort

    def run(model, feeds):
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return session.run(None, feeds)[0]

    rng = np.random.default_rng(0)
    page = (rng.random((1, 1, 800, 600), dtype=np.float32) > 0.9).astype(np.float32) - 0.5
    original = run(detection, {"input.1": page})
    fitted = onnx.load(os.path.join(out, "text-detection-fitted.onnx"))
    print("detection 800x600, max abs diff:", float(np.abs(run(fitted, {"input.1": page}) - original).max()))
    for h, w in [(160, 416), (224, 96), (1024, 768)]:
        print(f"detection {h}x{w}: output", run(fitted, {"input.1": page[:, :, :h, :w] if h <= 800 and w <= 600 else np.resize(page, (1, 1, h, w))}).shape)
    line = (rng.random((1, 1, 64, 400), dtype=np.float32) > 0.8).astype(np.float32) - 0.5
    want = run(recognition, {"line_image": line})
    cnn = onnx.load(os.path.join(out, "text-recognition-cnn-int8.onnx"))
    rnn = onnx.load(os.path.join(out, "text-recognition-rnn.onnx"))
    got = run(rnn, {CNN_OUTPUT: run(cnn, {"line_image": line})})
    agree = float((got.argmax(-1) == want.argmax(-1)).mean())
    print(f"recognition: max abs diff of log-probs {float(np.abs(got - want).max()):.3f}, argmax agreement {agree:.3f}")
    # What the 7-bit weights cost, with exact integer arithmetic (onnxruntime,
    # as on a VNNI or Arm CPU): the same CNN with full 8-bit weights.
    cnn8 = quantize_cnn(
        subgraph(recognition, ["line_image"], [CNN_OUTPUT], [cnn.graph.input[0]], [cnn.graph.output[0]]), levels=127
    )
    got8 = run(rnn, {CNN_OUTPUT: run(cnn8, {"line_image": line})})
    agree8 = float((got8.argmax(-1) == want.argmax(-1)).mean())
    print(f"recognition with 8-bit CNN weights (exact arithmetic): max abs diff {float(np.abs(got8 - want).max()):.3f}, argmax agreement {agree8:.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detection", required=True)
    parser.add_argument("--recognition", required=True)
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    detection = load_verified(args.detection, DETECTION_SHA256)
    recognition = load_verified(args.recognition, RECOGNITION_SHA256)
    save(derive_detection(load_verified(args.detection, DETECTION_SHA256)), os.path.join(args.out, "text-detection-fitted.onnx"))
    cnn, rnn = derive_recognition(recognition)
    save(cnn, os.path.join(args.out, "text-recognition-cnn-int8.onnx"))
    save(rnn, os.path.join(args.out, "text-recognition-rnn.onnx"))
    if args.check:
        check(detection, load_verified(args.recognition, RECOGNITION_SHA256), args.out)


if __name__ == "__main__":
    main()
