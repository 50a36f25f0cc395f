//! User Portal images: an upload is untrusted bytes. It must be a PNG, JPEG or WebP whose file
//! ends where the image does and that carries no markup: a polyglot that a browser could be
//! talked into reading as HTML is refused with a message, not silently cleaned (these checks are
//! best effort: a determined file can hide markup from them). The guarantee is the rest: it is
//! decoded under size limits, which proves it is an image, and what is kept is our own
//! re-encoding as a PNG of at most [`TILE_SIDE`] pixels a side, so nothing that rode along
//! survives.

use std::io::Cursor;

use base64::Engine;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use crate::AdminError;

/// The largest upload taken.
pub const MAX_UPLOAD_BYTES: usize = 1024 * 1024;
/// The largest width or height decoded: beyond it the image is refused before its pixels are
/// allocated (a small file can declare a huge canvas). Tiles are 128 pixels; 2048 leaves room
/// for any logo while bounding a decode's working memory to tens of MiB.
pub const MAX_SIDE: u32 = 2048;
/// Tiles are shown at 64 CSS pixels; 128 covers screens of twice the density.
pub const TILE_SIDE: u32 = 128;

/// What the store keeps of an accepted upload: a `data:image/png;base64,…` URI.
pub fn portal_image(upload: &[u8]) -> Result<String, AdminError> {
    Ok(png_data_uri(&normalize(upload)?))
}

/// PNG bytes as the `data:` URI the store keeps.
pub fn png_data_uri(png: &[u8]) -> String {
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png))
}

/// The PNG bytes of a stored image, to serve with their own content type.
pub fn stored_png(stored: &str) -> Option<Vec<u8>> {
    let encoded = stored.strip_prefix("data:image/png;base64,")?;
    base64::engine::general_purpose::STANDARD.decode(encoded).ok()
}

/// The checked upload, re-encoded as a PNG of at most [`TILE_SIDE`] pixels a side.
pub fn normalize(upload: &[u8]) -> Result<Vec<u8>, AdminError> {
    normalize_within(upload, "portal_image", TILE_SIDE, TILE_SIDE)
}

/// The checked upload (the input `field`), re-encoded as a PNG that fits `width` by `height`
/// pixels, its proportions kept.
pub fn normalize_within(upload: &[u8], field: &str, width: u32, height: u32) -> Result<Vec<u8>, AdminError> {
    let refused = |message: String| AdminError::invalid(field, message);
    if upload.len() > MAX_UPLOAD_BYTES {
        return Err(refused("The image is larger than 1 MiB.".into()));
    }
    let format = format_of(upload).ok_or_else(|| {
        refused("The image must be a PNG, JPEG or WebP file (SVG and other formats are not taken).".into())
    })?;
    if !ends_with_the_image(upload, format) || carries_markup(upload) {
        return Err(refused(
            "The file holds something besides the image (markup or data after its end); save it again as a plain image."
                .into(),
        ));
    }
    let image = decode(upload, format).map_err(refused)?;
    let image = if image.width() > width || image.height() > height { image.thumbnail(width, height) } else { image };
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| refused(format!("The image could not be re-encoded: {e}")))?;
    Ok(png)
}

/// The format the bytes say they are (never the file's name or the upload's content type).
fn format_of(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else {
        None
    }
}

/// Whether the file ends where its image does: decoders stop at the image's end and would let
/// anything appended pass.
fn ends_with_the_image(bytes: &[u8], format: ImageFormat) -> bool {
    match format {
        ImageFormat::Png => png_end(bytes) == Some(bytes.len()),
        // The end-of-image marker must be the file's last two bytes.
        ImageFormat::Jpeg => bytes.ends_with(&[0xFF, 0xD9]),
        ImageFormat::WebP => {
            let declared = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
            declared.checked_add(8 + declared % 2) == Some(bytes.len())
        }
        _ => false,
    }
}

/// Where a PNG's `IEND` chunk ends, walking its chunks from the signature.
fn png_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 8usize;
    loop {
        let header = bytes.get(at..at.checked_add(8)?)?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let end = at.checked_add(12)?.checked_add(length)?;
        if end > bytes.len() {
            return None;
        }
        if &header[4..8] == b"IEND" {
            return Some(end);
        }
        at = end;
    }
}

/// Markup a browser sniffing the bytes, or a viewer of a text chunk, could act on.
fn carries_markup(bytes: &[u8]) -> bool {
    const MARKERS: [&[u8]; 9] =
        [b"<html", b"<script", b"<svg", b"<!doctype", b"<body", b"<?xml", b"<iframe", b"<object", b"javascript:"];
    let lower = bytes.to_ascii_lowercase();
    MARKERS.iter().any(|marker| lower.windows(marker.len()).any(|window| window == *marker))
}

fn decode(bytes: &[u8], format: ImageFormat) -> Result<DynamicImage, String> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(u64::from(MAX_SIDE) * u64::from(MAX_SIDE) * 4);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => {
            format!("The image is too large: at most {MAX_SIDE} by {MAX_SIDE} pixels are taken.")
        }
        other => format!("The file is not a readable image: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(format: ImageFormat, width: u32, height: u32) -> Vec<u8> {
        let image = DynamicImage::new_rgb8(width, height);
        let mut bytes = Vec::new();
        image.write_to(&mut Cursor::new(&mut bytes), format).unwrap();
        bytes
    }

    #[test]
    fn png_jpeg_and_webp_become_small_pngs() {
        for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP] {
            let png = normalize(&encoded(format, 300, 150)).unwrap();
            let image = image::load_from_memory_with_format(&png, ImageFormat::Png).unwrap();
            assert_eq!((image.width(), image.height()), (128, 64), "{format:?}");
        }
        let small = normalize(&encoded(ImageFormat::Png, 16, 16)).unwrap();
        assert!(portal_image(&small).unwrap().starts_with("data:image/png;base64,"));
        assert_eq!(stored_png(&portal_image(&small).unwrap()).unwrap(), normalize(&small).unwrap());
    }

    #[test]
    fn what_is_not_a_plain_image_is_refused() {
        let png = encoded(ImageFormat::Png, 8, 8);
        let refused = |bytes: &[u8]| matches!(normalize(bytes), Err(AdminError::Invalid { field, .. }) if field == "portal_image");
        // Not an image at all, or not one of the three formats.
        assert!(refused(b"<html><script>alert(1)</script></html>"));
        assert!(refused(b"<svg xmlns='http://www.w3.org/2000/svg'/>"));
        assert!(refused(b"GIF89a\x01\x00\x01\x00"));
        assert!(refused(b""));
        // A PNG with HTML appended, or inside a text chunk.
        let mut appended = png.clone();
        appended.extend_from_slice(b"<html><script>alert(1)</script>");
        assert!(refused(&appended));
        let mut chunk = png[..33].to_vec();
        let text = b"Comment\0<script>alert(1)</script>";
        chunk.extend_from_slice(&(text.len() as u32).to_be_bytes());
        chunk.extend_from_slice(b"tEXt");
        chunk.extend_from_slice(text);
        chunk.extend_from_slice(&[0, 0, 0, 0]);
        chunk.extend_from_slice(&png[33..]);
        assert!(refused(&chunk));
        // A JPEG with bytes after its end marker; a truncated PNG.
        let mut jpeg = encoded(ImageFormat::Jpeg, 8, 8);
        jpeg.extend_from_slice(b"PK\x03\x04");
        assert!(refused(&jpeg));
        assert!(refused(&png[..png.len() - 4]));
        // Over the byte cap, or a canvas over the side cap.
        let mut big = png.clone();
        big.resize(MAX_UPLOAD_BYTES + 1, 0);
        assert!(refused(&big));
        assert!(refused(&encoded(ImageFormat::Png, MAX_SIDE + 1, 1)));
        // The magic of a PNG over garbage.
        assert!(refused(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x00IEND\x00\x00\x00\x00"));
    }
}
