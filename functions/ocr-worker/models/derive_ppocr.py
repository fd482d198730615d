#!/usr/bin/env python3
"""Derives the PP-OCRv6 detector and recogniser the OCR function embeds from the published models.

    python3 -m venv /tmp/derive && /tmp/derive/bin/pip install -r requirements.txt
    /tmp/derive/bin/pip download --no-deps rapidocr==3.10.0 -d /tmp/derive/wheels
    unzip -o /tmp/derive/wheels/rapidocr-3.10.0-py3-none-any.whl 'rapidocr/models/*' -d /tmp/derive/rapidocr
    /tmp/derive/bin/python derive_ppocr.py \
        --recognition /tmp/derive/rapidocr/rapidocr/models/PP-OCRv6_rec_small.onnx \
        --detection /tmp/derive/rapidocr/rapidocr/models/PP-OCRv6_det_small.onnx [--out DIR] [--check]

The inputs are PaddleOCR's PP-OCRv6 small recogniser and detector
(Apache-2.0, Baidu) as RapidOCR 3.10.0 (Apache-2.0) ships them converted to
ONNX; their SHA-256 is verified before anything is derived. The output is
deterministic (same input, same bytes). Three files:

ppocrv6-det-small.onnx
    The DBNet detector's graph, [N, 3, H, W] pages normalised to [-1, 1]
    (H and W multiples of 32) -> text probability [N, 1, H, W], its large
    weights stored int8 as the recogniser's are (2.6 MB against 9.9 MB).

ppocrv6-rec-small.onnx
    The same graph, [N, 3, 48, W] line images normalised to [-1, 1] ->
    character probabilities [N, W / 8, 18710]. Its large weights are stored
    as int8 per output channel (a Cast and a Mul of constants, which RTen's
    optimizer folds when the model loads: compute stays f32, the file is a
    quarter of the size: 5.7 MB against 21 MB). It reads as the original
    does: on the 30 scanned lines of ../shared/ocr-dev, with onnxruntime,
    CER 0.0058 against the original's 0.0065, 29 of 30 texts identical.
    The dictionary is taken out of the metadata.

ppocrv6-dict.txt
    The model's 18,708 characters, one per line, as its `character`
    metadata gives them: label 0 is CTC's blank, label i is line i, and the
    last label (18,709) is a space.

--check runs the original and the derived model with onnxruntime on
synthetic line images and prints how far apart their outputs are.
"""

import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from derive import load_verified, per_channel_int8

RECOGNITION_SHA256 = "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884"
DETECTION_SHA256 = "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f"


def store_weights_int8(graph, min_elements=4096):
    """Replaces each large f32 weight by int8 values times a per-channel scale."""
    constants, n = [], 0
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT:
            continue
        value = numpy_helper.to_array(init)
        if value.size < min_elements or value.ndim < 2:
            continue
        # A Conv's output channels are axis 0, a MatMul's (x @ W) axis 1.
        axis = 0 if value.ndim == 4 else value.ndim - 1
        q, scale = per_channel_int8(value, axis)
        shape = [1] * value.ndim
        shape[axis] = -1
        scale = scale.reshape(shape)
        n += 1
        q_name, s_name, f_name = f"int8/{n}/q", f"int8/{n}/scale", f"int8/{n}/f32"
        graph.initializer.remove(init)
        graph.initializer.extend([numpy_helper.from_array(q, q_name), numpy_helper.from_array(scale, s_name)])
        constants += [
            helper.make_node("Cast", [q_name], [f_name], to=TensorProto.FLOAT, name=f"int8/{n}/cast"),
            helper.make_node("Mul", [f_name, s_name], [init.name], name=f"int8/{n}/dequantize"),
        ]
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(constants + nodes)
    return n


def derive(model):
    dictionary = next(p.value for p in model.metadata_props if p.key == "character")
    del model.metadata_props[:]
    stored = store_weights_int8(model.graph)
    onnx.checker.check_model(model)
    return model, dictionary, stored


def check_detection(original, derived):
    import onnxruntime as ort

    def session(model):
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    a, b = session(original), session(derived)
    rng = np.random.default_rng(7)
    x = np.full((1, 3, 320, 256), 0.9, np.float32)
    for row in range(16, 300, 24):
        for _ in range(30):
            x0 = rng.integers(8, 240)
            x[:, :, row : row + rng.integers(6, 14), x0 : x0 + rng.integers(1, 4)] = -0.9
    pa, pb = a.run(None, {"x": x})[0], b.run(None, {"x": x})[0]
    agree = ((pa > 0.3) == (pb > 0.3)).mean()
    print(f"detection: max |dp| {np.abs(pa - pb).max():.4f}, text/no text agrees at {agree:.2%} of pixels")


def check(original, derived):
    import onnxruntime as ort

    def session(model):
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    a, b = session(original), session(derived)
    rng = np.random.default_rng(7)
    for width in (64, 320, 960):
        # Dark strokes on light paper, roughly what a text line looks like.
        x = np.full((2, 3, 48, width), 0.9, np.float32)
        for _ in range(width // 6):
            x0, y0 = rng.integers(0, width - 4), rng.integers(8, 36)
            x[:, :, y0 : y0 + rng.integers(2, 12), x0 : x0 + rng.integers(1, 4)] = -0.9
        pa, pb = a.run(None, {"x": x})[0], b.run(None, {"x": x})[0]
        agree = (pa.argmax(-1) == pb.argmax(-1)).mean()
        print(f"width {width}: max |dp| {np.abs(pa - pb).max():.4f}, best label agrees at {agree:.1%} of steps")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recognition", required=True)
    parser.add_argument("--detection", required=True)
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    original = load_verified(args.recognition, RECOGNITION_SHA256)
    derived, dictionary, stored = derive(load_verified(args.recognition, RECOGNITION_SHA256))
    path = os.path.join(args.out, "ppocrv6-rec-small.onnx")
    with open(path, "wb") as f:
        f.write(derived.SerializeToString(deterministic=True))
    with open(os.path.join(args.out, "ppocrv6-dict.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write(dictionary.rstrip("\n") + "\n")
    print(f"{path}: {stored} weights stored int8, {os.path.getsize(path)} bytes")
    detection = load_verified(args.detection, DETECTION_SHA256)
    derived_detection = load_verified(args.detection, DETECTION_SHA256)
    stored = store_weights_int8(derived_detection.graph)
    onnx.checker.check_model(derived_detection)
    path = os.path.join(args.out, "ppocrv6-det-small.onnx")
    with open(path, "wb") as f:
        f.write(derived_detection.SerializeToString(deterministic=True))
    print(f"{path}: {stored} weights stored int8, {os.path.getsize(path)} bytes")
    if args.check:
        check(original, derived)
        check_detection(detection, derived_detection)


if __name__ == "__main__":
    main()
