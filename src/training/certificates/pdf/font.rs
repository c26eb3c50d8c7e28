//! One embedded TrueType font: glyph lookup and widths while the page is laid out, then the
//! subset of the glyphs used, written as a Type 0 font with its widths and ToUnicode map.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Filter, Finish, Name, Pdf, Rect, Ref, Str};
use subsetter::GlyphRemapper;

use super::PdfError;

/// One embedded font: its face, and the glyphs used so far under their subset ids.
pub(super) struct Font {
    data: &'static [u8],
    postscript_name: &'static str,
    bold: bool,
    face: ttf_parser::Face<'static>,
    remapper: GlyphRemapper,
    /// Subset glyph id → the character it was used for.
    to_unicode: BTreeMap<u16, char>,
}

impl Font {
    pub(super) fn load(data: &'static [u8], postscript_name: &'static str, bold: bool) -> Result<Self, PdfError> {
        let face = ttf_parser::Face::parse(data, 0)?;
        Ok(Self { data, postscript_name, bold, face, remapper: GlyphRemapper::new(), to_unicode: BTreeMap::new() })
    }

    /// In thousandths of the font size, as PDF widths are.
    fn to_thousandths(&self, units: f32) -> f32 {
        units * 1000.0 / f32::from(self.face.units_per_em())
    }

    fn glyph(&self, character: char) -> ttf_parser::GlyphId {
        self.face.glyph_index(character).unwrap_or(ttf_parser::GlyphId(0))
    }

    fn advance(&self, glyph: ttf_parser::GlyphId) -> f32 {
        self.to_thousandths(f32::from(self.face.glyph_hor_advance(glyph).unwrap_or(0)))
    }

    /// The width of `text` at `size` with `spacing` points between letters.
    pub(super) fn width(&self, text: &str, size: f32, spacing: f32) -> f32 {
        let glyphs: f32 = text.chars().map(|character| self.advance(self.glyph(character))).sum();
        let count = text.chars().count() as f32;
        glyphs * size / 1000.0 + spacing * (count - 1.0).max(0.0)
    }

    /// `text` as two-byte subset glyph ids (the CIDs of an Identity-H font).
    pub(super) fn encode(&mut self, text: &str) -> Vec<u8> {
        let mut encoded = Vec::with_capacity(text.len() * 2);
        for character in text.chars() {
            let glyph = self.remapper.remap(self.glyph(character).0);
            self.to_unicode.entry(glyph).or_insert(character);
            encoded.extend_from_slice(&glyph.to_be_bytes());
        }
        encoded
    }
}

pub(super) fn deflate(bytes: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(bytes, 9)
}

/// A Type 0 font over a CIDFontType2 (TrueType) subset whose CIDs are the subset's glyph ids,
/// with the widths and the ToUnicode map of the glyphs used. Takes five ids from `first`.
pub(super) fn write_font(pdf: &mut Pdf, font: &Font, first: Ref) -> Result<(), PdfError> {
    let [type0, cid, descriptor, file, cmap] = [0, 1, 2, 3, 4].map(|offset| Ref::new(first.get() + offset));
    // Subset fonts are named with six capital letters and a plus (ISO 32000 9.6.4); any tag will do
    // as long as the two fonts' differ.
    let base_name = format!("{}+{}", if font.bold { "LECTRB" } else { "LECTRR" }, font.postscript_name);
    let system_info = SystemInfo { registry: Str(b"Adobe"), ordering: Str(b"Identity"), supplement: 0 };

    pdf.type0_font(type0)
        .base_font(Name(base_name.as_bytes()))
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap);

    let widths: Vec<f32> =
        font.remapper.remapped_gids().map(|glyph| font.advance(ttf_parser::GlyphId(glyph)).round()).collect();
    let mut cid_font = pdf.cid_font(cid);
    cid_font
        .subtype(CidFontType::Type2)
        .base_font(Name(base_name.as_bytes()))
        .system_info(system_info)
        .font_descriptor(descriptor)
        .default_width(0.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    cid_font.widths().consecutive(0, widths);
    cid_font.finish();

    let face = &font.face;
    let bbox = face.global_bounding_box();
    let scale = |units: i16| font.to_thousandths(f32::from(units));
    pdf.font_descriptor(descriptor)
        .name(Name(base_name.as_bytes()))
        .flags(FontFlags::SERIF | FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(scale(bbox.x_min), scale(bbox.y_min), scale(bbox.x_max), scale(bbox.y_max)))
        .italic_angle(face.italic_angle())
        .ascent(scale(face.ascender()))
        .descent(scale(face.descender()))
        .cap_height(scale(face.capital_height().unwrap_or(face.ascender())))
        .stem_v(if font.bold { 140.0 } else { 80.0 })
        .font_file2(file);

    let subset = subsetter::subset(font.data, 0, &font.remapper).map_err(|e| PdfError::Subset(e.to_string()))?;
    let compressed = deflate(&subset);
    pdf.stream(file, &compressed)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), i32::try_from(subset.len()).unwrap_or(i32::MAX));

    let mut unicode = pdf_writer::types::UnicodeCmap::new(Name(b"Lectern-UTF16"), system_info);
    for (glyph, character) in &font.to_unicode {
        unicode.pair(*glyph, *character);
    }
    let unicode = deflate(&unicode.finish());
    pdf.cmap(cmap, &unicode).filter(Filter::FlateDecode);
    Ok(())
}
