//! A deliberately broken copy of the models, for the tests that prove a
//! misreading engine cannot serve (the unit tests and the release binary's
//! start-up test): the committed recognisers (ocrs' CNN, PP-OCRv6's
//! model) with every int8 weight negated, which load and run and read
//! garbage.

use std::path::Path;

use super::{
    DETECTION_MODEL, MODEL_FILES, PPOCR_DETECTION_MODEL, PPOCR_DICTIONARY, PPOCR_MODEL_FILES, PPOCR_RECOGNITION_MODEL,
    RECOGNITION_CNN_MODEL, RECOGNITION_RNN_MODEL,
};

/// `model` with every int8 weight negated.
fn negated(model: &[u8], what: &str) -> std::io::Result<Vec<u8>> {
    let mut model = model.to_vec();
    let weights = onnx::int8_initializers(&model);
    let count: usize = weights.iter().map(|w| w.len()).sum();
    if count < 100_000 {
        return Err(std::io::Error::other(format!("found only {count} int8 weights in the {what}")));
    }
    for range in weights {
        for byte in &mut model[range] {
            *byte = (*byte as i8).wrapping_neg() as u8;
        }
    }
    Ok(model)
}

/// Writes every engine's models under their names ([`MODEL_FILES`],
/// [`PPOCR_MODEL_FILES`]) into `dir` (an `OCR_MODELS_DIR`), each
/// recogniser broken.
pub fn write_models(dir: &Path) -> std::io::Result<()> {
    let [detection, cnn_file, rnn] = MODEL_FILES;
    std::fs::write(dir.join(detection), DETECTION_MODEL)?;
    std::fs::write(dir.join(cnn_file), negated(RECOGNITION_CNN_MODEL, "ocrs CNN")?)?;
    std::fs::write(dir.join(rnn), RECOGNITION_RNN_MODEL)?;
    let [ppocr_detection, ppocr_file, dictionary] = PPOCR_MODEL_FILES;
    std::fs::write(dir.join(ppocr_detection), PPOCR_DETECTION_MODEL)?;
    std::fs::write(dir.join(ppocr_file), negated(PPOCR_RECOGNITION_MODEL, "PP-OCR recogniser")?)?;
    std::fs::write(dir.join(dictionary), PPOCR_DICTIONARY)
}

mod onnx {
    //! Just enough protobuf to find an ONNX model's int8 initializers:
    //! ModelProto.graph (7) > GraphProto.initializer (5) > TensorProto
    //! with data_type (2) INT8 (3) and raw_data (9).
    use std::ops::Range;

    enum Value {
        Varint(u64),
        Bytes(Range<usize>),
        Fixed,
    }

    fn varint(buf: &[u8], pos: &mut usize) -> u64 {
        let mut value = 0;
        for shift in (0..64).step_by(7) {
            let byte = buf[*pos];
            *pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
        }
        value
    }

    fn fields(buf: &[u8], range: Range<usize>) -> Vec<(u64, Value)> {
        let mut pos = range.start;
        let mut found = Vec::new();
        while pos < range.end {
            let key = varint(buf, &mut pos);
            let value = match key & 7 {
                0 => Value::Varint(varint(buf, &mut pos)),
                1 => {
                    pos += 8;
                    Value::Fixed
                }
                2 => {
                    let len = varint(buf, &mut pos) as usize;
                    pos += len;
                    Value::Bytes(pos - len..pos)
                }
                5 => {
                    pos += 4;
                    Value::Fixed
                }
                wire => panic!("protobuf wire type {wire} at {pos}"),
            };
            found.push((key >> 3, value));
        }
        found
    }

    fn bytes(buf: &[u8], range: Range<usize>, field: u64) -> impl Iterator<Item = Range<usize>> {
        fields(buf, range).into_iter().filter_map(move |(f, v)| match v {
            Value::Bytes(r) if f == field => Some(r),
            _ => None,
        })
    }

    pub fn int8_initializers(model: &[u8]) -> Vec<Range<usize>> {
        let mut found = Vec::new();
        for graph in bytes(model, 0..model.len(), 7) {
            for tensor in bytes(model, graph, 5) {
                let fields = fields(model, tensor);
                let int8 = fields.iter().any(|(f, v)| *f == 2 && matches!(v, Value::Varint(3)));
                let raw = fields.into_iter().find_map(|(f, v)| match v {
                    Value::Bytes(r) if f == 9 => Some(r),
                    _ => None,
                });
                if let (true, Some(raw)) = (int8, raw) {
                    found.push(raw);
                }
            }
        }
        found
    }
}
