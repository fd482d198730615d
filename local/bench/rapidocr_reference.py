#!/usr/bin/env python3
"""RapidOCR (PP-OCRv6 small on ONNX Runtime, one thread) as ocr-bench's reference engine.

    pip install rapidocr==3.10.0 onnxruntime
    python3 rapidocr_reference.py IMAGE

Prints the recognition call's milliseconds, then the text: the boxes grouped
into lines the way the development sets' ground truth was grouped (by
vertical centre; a box joins the current line when its centre is within half
a box height of the line's centre; each line left to right, single spaces).
"""

import sys
import time

from rapidocr import RapidOCR


def lines_of(boxes, texts):
    items = []
    for box, text in zip(boxes, texts):
        ys = [p[1] for p in box]
        xs = [p[0] for p in box]
        items.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(xs), text))
    items.sort(key=lambda item: item[0])
    lines = []
    for centre, height, left, text in items:
        if lines and abs(centre - lines[-1]["centre"]) <= height / 2:
            line = lines[-1]
            line["words"].append((left, text))
            line["centre"] = sum(c for c in line["centres"] + [centre]) / (len(line["centres"]) + 1)
            line["centres"].append(centre)
        else:
            lines.append({"centre": centre, "centres": [centre], "words": [(left, text)]})
    return "\n".join(" ".join(text for _, text in sorted(line["words"])) for line in lines)


def main():
    engine = RapidOCR(
        params={
            "Global.log_level": "critical",
            "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )
    started = time.perf_counter()
    result = engine(sys.argv[1])
    millis = (time.perf_counter() - started) * 1000
    boxes, texts = result.boxes, result.txts
    text = lines_of(boxes, texts) if texts is not None and len(texts) else ""
    print(f"{millis}\n{text}")


if __name__ == "__main__":
    main()
