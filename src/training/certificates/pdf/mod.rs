//! The printable certificate: one landscape A4 page, from the signed record. Pure: a record and a
//! URL in, PDF bytes out; no IO, no clock.
//!
//! Text is set in DejaVu Serif (regular and bold, `fonts/`, licence beside them), embedded as
//! TrueType subsets holding only the glyphs used, so Latin and Cyrillic names print the same on
//! every reader, and with a ToUnicode map, so the text can be searched and copied. Glyphs are
//! placed one after another by their advance widths: there is no shaping, which Latin and Cyrillic
//! do not need (ligatures and kerning are a nicety a certificate can do without). The
//! verification URL is printed, linked, and drawn as a QR code from filled squares.

mod font;

use pdf_writer::types::{ActionType, AnnotationType};
use pdf_writer::{Content, Date, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use time::OffsetDateTime;

use self::font::{Font, deflate, write_font};
use super::record::CertificateRecord;

static SERIF: &[u8] = include_bytes!("../fonts/DejaVuSerif.ttf");
static SERIF_BOLD: &[u8] = include_bytes!("../fonts/DejaVuSerif-Bold.ttf");

/// A4 landscape, in points.
const PAGE_WIDTH: f32 = 841.89;
const PAGE_HEIGHT: f32 = 595.28;
const CENTER: f32 = PAGE_WIDTH / 2.0;
/// Left edge of the bottom block, and the widest a centred line may be.
const MARGIN: f32 = 72.0;
const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;

type Rgb = (f32, f32, f32);
const NAVY: Rgb = (0.11, 0.20, 0.36);
const GOLD: Rgb = (0.70, 0.56, 0.30);
const GREY: Rgb = (0.36, 0.38, 0.43);
const INK: Rgb = (0.08, 0.09, 0.11);

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the embedded font cannot be read")]
    Font(#[from] ttf_parser::FaceParsingError),
    #[error("the embedded font cannot be subset ({0})")]
    Subset(String),
    #[error("the verification URL does not fit in a QR code")]
    QrCode(#[from] qrcode::types::QrError),
}

/// The certificate for `record`, verifiable at `verification_url`.
pub fn render(record: &CertificateRecord, verification_url: &str) -> Result<Vec<u8>, PdfError> {
    let mut page = Page {
        content: Content::new(),
        fonts: [Font::load(SERIF, "DejaVuSerif", false)?, Font::load(SERIF_BOLD, "DejaVuSerif-Bold", true)?],
        link: None,
    };
    page.frame();
    page.body(record);
    page.footer(record, verification_url)?;
    page.finish(record, verification_url)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weight {
    Regular = 0,
    Bold = 1,
}

/// How a run of text looks.
#[derive(Debug, Clone, Copy)]
struct Style {
    weight: Weight,
    size: f32,
    /// Points between letters.
    spacing: f32,
    color: Rgb,
}

const fn style(weight: Weight, size: f32, spacing: f32, color: Rgb) -> Style {
    Style { weight, size, spacing, color }
}

/// Small capitals-like labels above the footer's values.
const LABEL: Style = style(Weight::Regular, 7.5, 1.2, GREY);

struct Page {
    content: Content,
    fonts: [Font; 2],
    /// The area of the printed URL, made a link.
    link: Option<Rect>,
}

impl Page {
    fn font(&self, weight: Weight) -> &Font {
        &self.fonts[weight as usize]
    }

    fn width(&self, weight: Weight, size: f32, spacing: f32, text: &str) -> f32 {
        self.font(weight).width(text, size, spacing)
    }

    fn text(&mut self, style: Style, x: f32, y: f32, text: &str) {
        let encoded = self.fonts[style.weight as usize].encode(text);
        let font_name = if style.weight == Weight::Bold { Name(b"F2") } else { Name(b"F1") };
        let (red, green, blue) = style.color;
        self.content.begin_text();
        self.content.set_fill_rgb(red, green, blue);
        self.content.set_font(font_name, style.size);
        self.content.set_char_spacing(style.spacing);
        self.content.next_line(x, y);
        self.content.show(Str(&encoded));
        self.content.end_text();
    }

    fn centered(&mut self, style: Style, y: f32, text: &str) {
        let x = CENTER - self.width(style.weight, style.size, style.spacing, text) / 2.0;
        self.text(style, x, y, text);
    }

    fn rule(&mut self, color: Rgb, width: f32, x0: f32, x1: f32, y: f32) {
        self.content.set_stroke_rgb(color.0, color.1, color.2);
        self.content.set_line_width(width);
        self.content.move_to(x0, y);
        self.content.line_to(x1, y);
        self.content.stroke();
    }

    /// A navy frame with a fine gold one inside it.
    fn frame(&mut self) {
        for (inset, width, color) in [(20.0, 2.5, NAVY), (27.0, 0.8, GOLD)] {
            self.content.set_stroke_rgb(color.0, color.1, color.2);
            self.content.set_line_width(width);
            self.content.rect(inset, inset, PAGE_WIDTH - 2.0 * inset, PAGE_HEIGHT - 2.0 * inset);
            self.content.stroke();
        }
    }

    fn body(&mut self, record: &CertificateRecord) {
        let host = record.issuer.split("://").nth(1).unwrap_or(&record.issuer).trim_end_matches('/');
        self.centered(style(Weight::Regular, 9.0, 3.0, GREY), 515.0, &host.to_uppercase());
        self.centered(style(Weight::Bold, 30.0, 2.0, NAVY), 468.0, "CERTIFICATE OF COMPLETION");
        self.centered(style(Weight::Regular, 11.0, 2.5, GREY), 443.0, "СЕРТИФИКАТ О ПРОХОЖДЕНИИ КУРСА");
        self.rule(GOLD, 1.2, CENTER - 40.0, CENTER + 40.0, 426.0);
        self.centered(style(Weight::Regular, 13.0, 0.0, GREY), 393.0, "This is to certify that");

        let (name_size, name_lines) = self.fit(Weight::Bold, &record.learner.name, 32.0, 18.0, 1, 2);
        let name_top = if name_lines.len() > 1 { 363.0 } else { 348.0 };
        let mut widest: f32 = 0.0;
        for (index, line) in name_lines.iter().enumerate() {
            let y = name_top - index as f32 * name_size * 1.2;
            self.centered(style(Weight::Bold, name_size, 0.0, INK), y, line);
            widest = widest.max(self.width(Weight::Bold, name_size, 0.0, line));
        }
        let half = (widest / 2.0 + 30.0).clamp(160.0, TEXT_WIDTH / 2.0);
        self.rule(GOLD, 0.75, CENTER - half, CENTER + half, 331.0);
        self.centered(style(Weight::Regular, 13.0, 0.0, GREY), 306.0, "has successfully completed the course");

        let (title_size, title_lines) = self.fit(Weight::Bold, &record.course.title, 22.0, 14.0, 2, 3);
        let mut y = 270.0;
        for line in &title_lines {
            self.centered(style(Weight::Bold, title_size, 0.0, NAVY), y, line);
            y -= title_size * 1.25;
        }
        self.centered(style(Weight::Regular, 11.0, 0.0, GREY), y - 12.0, &summary(record));
    }

    /// The completion date, the id and the verification URL on the left; its QR code on the right.
    fn footer(&mut self, record: &CertificateRecord, verification_url: &str) -> Result<(), PdfError> {
        let rows = [
            ("COMPLETED ON", long_date(record.enrollment.completed_at), 12.0),
            ("CERTIFICATE ID", record.certificate_id.to_string(), 10.0),
        ];
        let mut y = 150.0;
        for (label, value, size) in rows {
            self.text(LABEL, MARGIN, y, label);
            self.text(style(Weight::Regular, size, 0.0, INK), MARGIN, y - 15.0, &value);
            y -= 40.0;
        }
        self.text(LABEL, MARGIN, y, "VERIFY AT");
        let url_width = TEXT_WIDTH - 140.0;
        let mut url_size = 9.0;
        while url_size > 5.0 && self.width(Weight::Regular, url_size, 0.0, verification_url) > url_width {
            url_size -= 0.25;
        }
        self.text(style(Weight::Regular, url_size, 0.0, NAVY), MARGIN, y - 15.0, verification_url);
        let printed = self.width(Weight::Regular, url_size, 0.0, verification_url);
        self.link = Some(Rect::new(MARGIN, y - 18.0, MARGIN + printed, y - 15.0 + url_size));

        let code = qrcode::QrCode::with_error_correction_level(verification_url, qrcode::EcLevel::M)?;
        let modules = code.width();
        let side = 96.0;
        let module = side / modules as f32;
        let (left, bottom) = (PAGE_WIDTH - MARGIN - side, 62.0);
        self.content.set_fill_rgb(INK.0, INK.1, INK.2);
        for (index, color) in code.to_colors().iter().enumerate() {
            if *color == qrcode::Color::Dark {
                let (column, row) = ((index % modules) as f32, (index / modules) as f32);
                // Slightly oversized squares, so neighbours overlap instead of leaving hairlines.
                let x = left + column * module;
                let y = bottom + side - (row + 1.0) * module;
                self.content.rect(x, y, module + 0.05, module + 0.05);
            }
        }
        self.content.fill_nonzero();
        let caption = "Scan to verify";
        let caption_style = style(Weight::Regular, 7.5, 0.6, GREY);
        let x = left + (side - self.width(Weight::Regular, 7.5, 0.6, caption)) / 2.0;
        self.text(caption_style, x, bottom - 13.0, caption);
        Ok(())
    }

    /// The largest size from `largest` down to `smallest` at which `text` fits in `preferred_lines`
    /// lines of the page's text width; failing that, the smallest size in up to `most_lines`
    /// lines, the last one shortened with an ellipsis if even that is not enough.
    fn fit(
        &self,
        weight: Weight,
        text: &str,
        largest: f32,
        smallest: f32,
        preferred_lines: usize,
        most_lines: usize,
    ) -> (f32, Vec<String>) {
        let mut size = largest;
        while size >= smallest {
            let lines = self.wrap(weight, size, text);
            if lines.len() <= preferred_lines {
                return (size, lines);
            }
            size -= 1.0;
        }
        let mut lines = self.wrap(weight, smallest, text);
        if lines.len() > most_lines {
            lines.truncate(most_lines);
            let last = lines.last_mut().map(std::mem::take).unwrap_or_default();
            let mut shortened: String = last;
            while !shortened.is_empty() && self.width(weight, smallest, 0.0, &format!("{shortened}…")) > TEXT_WIDTH {
                shortened.pop();
            }
            if let Some(line) = lines.last_mut() {
                *line = format!("{}…", shortened.trim_end());
            }
        }
        (smallest, lines)
    }

    /// Greedy wrapping at spaces; a word wider than a line is broken where it must be.
    fn wrap(&self, weight: Weight, size: f32, text: &str) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
            if self.width(weight, size, 0.0, &candidate) <= TEXT_WIDTH {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for character in word.chars() {
                line.push(character);
                if self.width(weight, size, 0.0, &line) > TEXT_WIDTH {
                    line.pop();
                    lines.push(std::mem::take(&mut line));
                    line.push(character);
                }
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }

    fn finish(self, record: &CertificateRecord, verification_url: &str) -> Result<Vec<u8>, PdfError> {
        let mut pdf = Pdf::new();
        let catalog = Ref::new(1);
        let pages = Ref::new(2);
        let page = Ref::new(3);
        let content = Ref::new(4);
        let info = Ref::new(5);
        let annotation = Ref::new(6);
        let font_refs = [Ref::new(10), Ref::new(20)];

        pdf.catalog(catalog).pages(pages);
        pdf.pages(pages).kids([page]).count(1);
        let mut page_writer = pdf.page(page);
        page_writer.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT));
        page_writer.parent(pages);
        page_writer.contents(content);
        if self.link.is_some() {
            page_writer.annotations([annotation]);
        }
        let mut resources = page_writer.resources();
        resources.fonts().pair(Name(b"F1"), font_refs[0]).pair(Name(b"F2"), font_refs[1]);
        resources.finish();
        page_writer.finish();

        if let Some(rect) = self.link {
            let mut link = pdf.annotation(annotation);
            link.subtype(AnnotationType::Link).rect(rect).border(0.0, 0.0, 0.0, None);
            link.action().action_type(ActionType::Uri).uri(Str(verification_url.as_bytes()));
        }

        let title = format!("Certificate of completion: {}", record.course.title);
        let issued = record.issued_at;
        pdf.document_info(info)
            .title(TextStr(&title))
            .author(TextStr(&record.learner.name))
            .subject(TextStr(&format!("Certificate {}", record.certificate_id)))
            .producer(TextStr("Lectern"))
            .creation_date(
                Date::new(u16::try_from(issued.year()).unwrap_or(2000))
                    .month(u8::from(issued.month()))
                    .day(issued.day())
                    .hour(issued.hour())
                    .minute(issued.minute())
                    .second(issued.second())
                    .utc_offset_hour(0)
                    .utc_offset_minute(0),
            );

        let stream = deflate(&self.content.finish());
        pdf.stream(content, &stream).filter(Filter::FlateDecode);
        for (font, first) in self.fonts.iter().zip(font_refs) {
            write_font(&mut pdf, font, first)?;
        }
        Ok(pdf.finish())
    }
}

/// A short line of what was covered: the required lessons, the optional ones done, and the video
/// watched.
fn summary(record: &CertificateRecord) -> String {
    let lessons = &record.lessons;
    let required = lessons.iter().filter(|lesson| lesson.required).count();
    let required_done = lessons.iter().filter(|lesson| lesson.required && lesson.completed_at.is_some()).count();
    let optional_done = lessons.iter().filter(|lesson| !lesson.required && lesson.completed_at.is_some()).count();
    let watched_seconds: u64 = lessons
        .iter()
        .filter_map(|lesson| Some(u64::from(lesson.duration_seconds?) * u64::from(lesson.covered_per_mille?) / 1000))
        .sum();
    let noun = if required == 1 { "lesson" } else { "lessons" };
    let mut line = format!("{required_done} of {required} required {noun} completed");
    if optional_done > 0 {
        line.push_str(&format!(", and {optional_done} optional"));
    }
    if watched_seconds > 0 {
        line.push_str(&format!(" · {} of video watched", duration(watched_seconds)));
    }
    if record.enrollment.attempt > 1 {
        line.push_str(&format!(" · attempt {}", record.enrollment.attempt));
    }
    line
}

/// `3 h 05 min`, `42 min`, `under a minute`.
fn duration(seconds: u64) -> String {
    let minutes = seconds / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "under a minute".to_owned(),
        (0, minutes) => format!("{minutes} min"),
        (hours, minutes) => format!("{hours} h {minutes:02} min"),
    }
}

/// `3 December 2026` (UTC).
fn long_date(time: OffsetDateTime) -> String {
    let date = time.to_offset(time::UtcOffset::UTC).date();
    format!("{} {} {}", date.day(), date.month(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::certificates::record::tests::sample_record;

    #[test]
    fn it_is_one_landscape_a4_page_with_both_fonts_embedded_as_subsets() {
        let pdf = render(&sample_record(), "https://learn.example.com/v1/certificates/x").expect("renders");
        let text = String::from_utf8_lossy(&pdf);
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(text.contains("/MediaBox [0 0 841.89 595.28]"), "landscape A4");
        assert!(text.contains("/Count 1"));
        assert!(text.contains("/BaseFont /LECTRR+DejaVuSerif") && text.contains("/BaseFont /LECTRB+DejaVuSerif-Bold"));
        assert!(text.contains("/FontFile2") && text.contains("/ToUnicode"));
        // Subsets: the two fonts weigh about 740 kB; the whole page far less.
        assert!(pdf.len() < 80_000, "{} bytes", pdf.len());
    }

    #[test]
    fn summaries_count_lessons_and_the_video_watched() {
        let record = sample_record();
        // 1260 s × 100 % + 2735 s × 93.4 % = 3814 s.
        assert_eq!(summary(&record), "2 of 2 required lessons completed · 1 h 03 min of video watched");
        let mut record = record;
        record.lessons[2].completed_at = Some(record.enrollment.completed_at);
        record.enrollment.attempt = 2;
        assert_eq!(
            summary(&record),
            "2 of 2 required lessons completed, and 1 optional · 1 h 03 min of video watched · attempt 2"
        );
        assert_eq!(duration(59), "under a minute");
        assert_eq!(duration(42 * 60 + 5), "42 min");
        assert_eq!(long_date(record.enrollment.completed_at), "3 December 2026");
    }

    #[test]
    fn long_titles_wrap_and_very_long_ones_are_shortened() {
        let page = Page {
            content: Content::new(),
            fonts: [
                Font::load(SERIF, "DejaVuSerif", false).expect("font"),
                Font::load(SERIF_BOLD, "DejaVuSerif-Bold", true).expect("font"),
            ],
            link: None,
        };
        let (size, lines) = page.fit(Weight::Bold, "Короткий курс", 22.0, 14.0, 2, 3);
        assert_eq!((size, lines), (22.0, vec!["Короткий курс".to_owned()]));
        let long = "Очень длинное название курса ".repeat(10);
        let (size, lines) = page.fit(Weight::Bold, &long, 22.0, 14.0, 2, 3);
        assert_eq!(size, 14.0);
        assert_eq!(lines.len(), 3);
        assert!(lines[2].ends_with('…'));
        for line in &lines {
            assert!(page.width(Weight::Bold, size, 0.0, line) <= TEXT_WIDTH, "{line}");
        }
        let unbroken = "Ы".repeat(200);
        let (_, lines) = page.fit(Weight::Bold, &unbroken, 32.0, 18.0, 1, 2);
        assert_eq!(lines.len(), 2);
    }
}
