//! Small PDFs that ask for far more than their size, for the tests of the
//! [`super::sandbox`]: each kind a security review sent against the
//! service. Each is a few kilobytes to a few megabytes, well under the
//! upload limits, and written by hand (object streams and cross-reference
//! streams are beyond `pdf-writer`).

use std::io::Write;

/// A zlib stream that inflates to `size` zero bytes, built without
/// compressing them: a block of zeros flushed to a byte boundary is
/// repeated, then closed with an empty final block and the checksum.
pub fn zlib_zeros(size: u64) -> Vec<u8> {
    const CHUNK: u64 = 1 << 20;
    let block = {
        let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
        let mut out = Vec::with_capacity(4096);
        compress
            .compress_vec(&vec![0u8; CHUNK as usize], &mut out, flate2::FlushCompress::Sync)
            .expect("zeros compress");
        out
    };
    let mut stream = vec![0x78, 0xDA];
    for _ in 0..size / CHUNK {
        stream.extend_from_slice(&block);
    }
    let rest = size % CHUNK;
    if rest > 0 {
        let mut compress = flate2::Compress::new(flate2::Compression::best(), false);
        let mut out = Vec::with_capacity(4096);
        compress
            .compress_vec(&vec![0u8; rest as usize], &mut out, flate2::FlushCompress::Sync)
            .expect("zeros compress");
        stream.extend_from_slice(&out);
    }
    // An empty stored block with BFINAL set, then Adler-32 of the zeros
    // (a stays 1, b adds 1 per byte).
    stream.extend_from_slice(&[0x01, 0x00, 0x00, 0xFF, 0xFF]);
    let b = (size % 65_521) as u32;
    stream.extend_from_slice(&((b << 16) | 1).to_be_bytes());
    stream
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("in memory");
    encoder.finish().expect("in memory")
}

/// A PDF of numbered objects (`objects[i]` is object `i + 1`, its body
/// between `obj` and `endobj`), with a classic cross-reference table.
fn pdf_of(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

fn stream(dictionary: &str, data: &[u8]) -> Vec<u8> {
    let mut body = format!("<< {dictionary} /Length {} >>\nstream\n", data.len()).into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(b"\nendstream");
    body
}

const CATALOG: &str = "<< /Type /Catalog /Pages 2 0 R >>";
const PAGES: &str = "<< /Type /Pages /Kids [3 0 R] /Count 1 >>";

/// One US Letter page (object 3) with these resources and this content
/// (object 4), and further objects from 5 on.
fn one_page(resources: &str, content: Vec<u8>, more: Vec<Vec<u8>>) -> Vec<u8> {
    let page =
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << {resources} >> /Contents 4 0 R >>");
    let mut objects = vec![CATALOG.into(), PAGES.into(), page.into_bytes(), content];
    objects.extend(more);
    pdf_of(&objects)
}

/// The page's content stream inflates to `size` bytes.
pub fn content_stream_bomb(size: u64) -> Vec<u8> {
    one_page("", stream("/Filter /FlateDecode", &zlib_zeros(size)), Vec::new())
}

/// The content stream is deflated twice (a chain of two filters): a few
/// kilobytes that inflate to a bomb that inflates to `size` bytes.
pub fn filter_chain_bomb(size: u64) -> Vec<u8> {
    let twice = zlib(&zlib_zeros(size));
    one_page("", stream("/Filter [/FlateDecode /FlateDecode]", &twice), Vec::new())
}

/// The page draws an image whose samples inflate to `size` bytes (a grey
/// picture of that many pixels).
pub fn image_bomb(size: u64) -> Vec<u8> {
    let side = (size as f64).sqrt().ceil() as u64;
    let image = stream(
        &format!(
            "/Type /XObject /Subtype /Image /Width {side} /Height {side} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode"
        ),
        &zlib_zeros(side * side),
    );
    let content = stream("", b"q 612 0 0 792 0 0 cm /Im0 Do Q");
    one_page("/XObject << /Im0 5 0 R >>", content, vec![image])
}

/// Forms that each draw the next twice, `depth` deep: 2^depth draws of a
/// small square from a page of a kilobyte.
pub fn form_fan_out(depth: u32) -> Vec<u8> {
    let content = stream("", b"/F0 Do");
    let forms = (0..depth)
        .map(|level| {
            let (drawing, resources) = if level + 1 == depth {
                ("0 0 1 1 re f".to_owned(), String::new())
            } else {
                (
                    format!("/F{n} Do /F{n} Do", n = level + 1),
                    format!("/XObject << /F{} {} 0 R >>", level + 1, level + 6),
                )
            };
            stream(
                &format!("/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << {resources} >>"),
                drawing.as_bytes(),
            )
        })
        .collect();
    one_page("/XObject << /F0 5 0 R >>", content, forms)
}

/// `pages` US Letter pages that share one content stream, which draws a
/// form twice that draws the next twice, `depth` forms deep, down to one
/// glyph at one place: 2^depth glyphs a page from a few kilobytes (the
/// text-layer fan-out a security review sent).
pub fn glyph_fan_out(depth: u32, pages: u32) -> Vec<u8> {
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", i + 4)).collect();
    let mut objects: Vec<Vec<u8>> =
        vec![CATALOG.into(), format!("<< /Type /Pages /Kids [{}] /Count {pages} >>", kids.join(" ")).into_bytes()];
    // Object 3: the shared content; then the pages; then the font and forms.
    let content = 3;
    let font = 4 + pages as usize;
    let first_form = font + 1;
    objects.push(stream("", b"/F0 Do /F0 Do"));
    for _ in 0..pages {
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /F0 {first_form} 0 R >> >> /Contents {content} 0 R >>"
            )
            .into_bytes(),
        );
    }
    objects.push(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec());
    for level in 0..depth {
        let (drawing, resources) = if level + 1 == depth {
            ("BT /H 12 Tf 72 700 Td (A) Tj ET".to_owned(), format!("/Font << /H {font} 0 R >>"))
        } else {
            (
                format!("/F{n} Do /F{n} Do", n = level + 1),
                format!("/XObject << /F{} {} 0 R >>", level + 1, first_form + level as usize + 1),
            )
        };
        objects.push(stream(
            &format!("/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << {resources} >>"),
            drawing.as_bytes(),
        ));
    }
    pdf_of(&objects)
}

/// The page object lives in an object stream that inflates to `size`
/// bytes (the page, then zeros): reading the page tree, which the API does
/// to count pages, inflates it.
pub fn object_stream_bomb(size: u64) -> Vec<u8> {
    let first = b"3 0 ".len();
    let page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>";
    // The object stream's data: its index, the page, and zeros (white space
    // to a PDF reader) up to `size`; deflated as index and page, then zeros.
    let mut head = b"3 0 ".to_vec();
    head.extend_from_slice(page);
    let zeros = size.saturating_sub(head.len() as u64);
    let mut data = {
        let mut compress = flate2::Compress::new(flate2::Compression::best(), true);
        let mut out = Vec::with_capacity(4096);
        compress.compress_vec(&head, &mut out, flate2::FlushCompress::Sync).expect("in memory");
        out
    };
    // The zeros as raw deflate blocks (without zlib_zeros' header and
    // trailer), and a checksum over head and zeros.
    let tail = zlib_zeros(zeros);
    data.extend_from_slice(&tail[2..tail.len() - 4]);
    let adler = {
        let (mut a, mut b) = (1u64, 0u64);
        for &byte in &head {
            a = (a + u64::from(byte)) % 65_521;
            b = (b + a) % 65_521;
        }
        b = (b + a * (zeros % 65_521)) % 65_521;
        ((b << 16) | a) as u32
    };
    data.extend_from_slice(&adler.to_be_bytes());
    let object_stream = stream(&format!("/Type /ObjStm /N 1 /First {first} /Filter /FlateDecode"), &data);

    // Objects 1, 2 and 4 plainly, 3 inside 4; a cross-reference stream
    // (object 5) says so.
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = [0usize; 6];
    for (number, body) in [(1, CATALOG.as_bytes().to_vec()), (2, PAGES.as_bytes().to_vec()), (4, object_stream)] {
        offsets[number] = out.len();
        out.extend_from_slice(format!("{number} 0 obj\n").as_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\nendobj\n");
    }
    offsets[5] = out.len();
    let mut entries = Vec::new();
    let mut entry = |kind: u8, field: u32, generation: u16| {
        entries.push(kind);
        entries.extend_from_slice(&field.to_be_bytes());
        entries.extend_from_slice(&generation.to_be_bytes());
    };
    entry(0, 0, 65_535);
    entry(1, offsets[1] as u32, 0);
    entry(1, offsets[2] as u32, 0);
    entry(2, 4, 0);
    entry(1, offsets[4] as u32, 0);
    entry(1, offsets[5] as u32, 0);
    let xref = stream("/Type /XRef /Size 6 /W [1 4 2] /Root 1 0 R", &entries);
    out.extend_from_slice(b"5 0 obj\n");
    out.extend_from_slice(&xref);
    out.extend_from_slice(format!("\nendobj\nstartxref\n{}\n%%EOF\n", offsets[5]).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn the_zero_stream_inflates_to_exactly_its_size_and_checks_out() {
        for size in [0u64, 1, 1000, (1 << 20) + 17, 3 << 20] {
            let mut inflated = Vec::new();
            flate2::read::ZlibDecoder::new(&zlib_zeros(size)[..]).read_to_end(&mut inflated).expect("valid zlib");
            assert_eq!(inflated.len() as u64, size);
            assert!(inflated.iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn the_bombs_are_small() {
        let gib = 1 << 30;
        for (name, pdf) in [
            ("content", content_stream_bomb(gib)),
            ("chain", filter_chain_bomb(gib)),
            ("image", image_bomb(gib)),
            ("object stream", object_stream_bomb(gib)),
            ("fan-out", form_fan_out(30)),
            ("glyph fan-out", glyph_fan_out(20, 50)),
        ] {
            assert!(pdf.len() < 2 << 20, "{name}: {} bytes", pdf.len());
        }
        assert!(glyph_fan_out(17, 50).len() < 20 << 10, "fifty pages of 2^17 glyphs in a few kilobytes");
    }

    #[test]
    fn the_object_stream_holds_the_page_and_inflates_in_full() {
        let pdf = object_stream_bomb(5 << 20);
        let start = pdf.windows(7).position(|w| w == b"stream\n").unwrap() + 7;
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(&pdf[start..]).read_to_end(&mut inflated).expect("valid zlib");
        assert_eq!(inflated.len(), 5 << 20);
        assert!(inflated.starts_with(b"3 0 << /Type /Page"));
    }
}
