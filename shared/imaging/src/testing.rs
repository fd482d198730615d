//! Uploads for other crates' tests and for this crate's: images (a PNG,
//! EXIF orientations, a PNG that lies about its size), PDFs drawn from
//! images or with real text, multi-page TIFFs. Built only for tests
//! (`cfg(test)` or the `test-util` feature).

use std::io::Cursor;

use image::ImageFormat;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

/// A white `width`×`height` PNG.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// EXIF (a TIFF structure) holding only `Orientation = orientation`.
fn exif_orientation(orientation: u8) -> Vec<u8> {
    let mut exif = b"MM\0\x2a\0\0\0\x08".to_vec();
    exif.extend_from_slice(&[0, 1]); // one entry
    exif.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]); // SHORT 0x0112
    exif.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    exif
}

/// `upright` stored as a camera stores it with EXIF `orientation` (3,
/// 6 or 8): the pixels turned the other way, and the tag that tells a
/// viewer to turn them back. As a PNG (`eXIf` chunk) or a JPEG (APP1).
pub fn with_exif_orientation(upright: &image::DynamicImage, orientation: u8, format: ImageFormat) -> Vec<u8> {
    let stored = match orientation {
        3 => upright.rotate180(),
        6 => upright.rotate270(),
        8 => upright.rotate90(),
        _ => panic!("orientation {orientation} is not a turn"),
    };
    let mut out = Cursor::new(Vec::new());
    stored.to_rgb8().write_to(&mut out, format).unwrap();
    let encoded = out.into_inner();
    let exif = exif_orientation(orientation);
    match format {
        ImageFormat::Png => {
            // After the signature (8) and IHDR (4 + 4 + 13 + 4).
            let mut chunk = (exif.len() as u32).to_be_bytes().to_vec();
            chunk.extend_from_slice(b"eXIf");
            chunk.extend_from_slice(&exif);
            chunk.extend_from_slice(&crc32(&chunk[4..]).to_be_bytes());
            [&encoded[..33], &chunk, &encoded[33..]].concat()
        }
        ImageFormat::Jpeg => {
            let mut app1 = vec![0xFF, 0xE1];
            app1.extend_from_slice(&((exif.len() + 8) as u16).to_be_bytes());
            app1.extend_from_slice(b"Exif\0\0");
            app1.extend_from_slice(&exif);
            [&encoded[..2], &app1, &encoded[2..]].concat()
        }
        other => panic!("{other:?}: PNG or JPEG"),
    }
}

/// A valid PNG header claiming `width`×`height`, with one pixel of data.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut data = png(1, 1);
    // Signature (8), IHDR length (4) and type (4), then width and height.
    data[16..20].copy_from_slice(&width.to_be_bytes());
    data[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&data[12..29]);
    data[29..33].copy_from_slice(&crc.to_be_bytes());
    data
}

/// A PDF whose pages are these grey images (a scan), each drawn at `dpi`.
pub fn scanned_pdf(pages: &[image::GrayImage], dpi: f32) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let mut next = 3;
    let mut alloc = || {
        next += 1;
        Ref::new(next - 1)
    };
    let mut page_refs = Vec::new();
    let mut objects = Vec::new();
    for image in pages {
        let (page, picture, content) = (alloc(), alloc(), alloc());
        page_refs.push(page);
        objects.push((page, picture, content, image));
    }
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_refs.iter().copied()).count(pages.len() as i32);
    for (page, picture, content, image) in objects {
        let (w, h) = (image.width() as f32 * 72.0 / dpi, image.height() as f32 * 72.0 / dpi);
        let mut p = pdf.page(page);
        p.media_box(Rect::new(0.0, 0.0, w, h)).parent(tree).contents(content);
        p.resources().x_objects().pair(Name(b"Im0"), picture);
        p.finish();
        let compressed = miniz_deflate(image.as_raw());
        let mut x = pdf.image_xobject(picture, &compressed);
        x.filter(Filter::FlateDecode);
        x.width(image.width() as i32).height(image.height() as i32);
        x.color_space().device_gray();
        x.bits_per_component(8);
        x.finish();
        let mut c = Content::new();
        c.save_state().transform([w, 0.0, 0.0, h, 0.0, 0.0]).x_object(Name(b"Im0")).restore_state();
        pdf.stream(content, &c.finish());
    }
    pdf.finish()
}

/// A one-page PDF with real text (Helvetica), `lines` from the top.
pub fn text_pdf(lines: &[&str]) -> Vec<u8> {
    with_helvetica(&text_lines(lines))
}

/// A US Letter page drawn by `content_stream`, with Helvetica as font `F1`.
pub fn with_helvetica(content_stream: &[u8]) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let (catalog, tree, page, content, font) = (Ref::new(1), Ref::new(2), Ref::new(3), Ref::new(4), Ref::new(5));
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, 612.0, 792.0)).parent(tree).contents(content);
    p.resources().fonts().pair(Name(b"F1"), font);
    p.finish();
    pdf.type1_font(font).base_font(Name(b"Helvetica"));
    pdf.stream(content, content_stream);
    pdf.finish()
}

/// A content stream of `lines` in 14-pt font `F1`, from 1 inch below a
/// US Letter page's top, 1 inch from its left.
pub fn text_lines(lines: &[&str]) -> Vec<u8> {
    let mut c = Content::new();
    for (i, line) in lines.iter().enumerate() {
        c.begin_text()
            .set_font(Name(b"F1"), 14.0)
            .next_line(72.0, 720.0 - 24.0 * i as f32)
            .show(Str(line.as_bytes()))
            .end_text();
    }
    c.finish().to_vec()
}

/// A TIFF of these grey pages, one IFD each.
pub fn multipage_tiff(pages: &[image::GrayImage]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut encoder = tiff::encoder::TiffEncoder::new(&mut out).unwrap();
    for page in pages {
        encoder.write_image::<tiff::encoder::colortype::Gray8>(page.width(), page.height(), page.as_raw()).unwrap();
    }
    out.into_inner()
}

fn miniz_deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}
