//! The little XML the MPD needs: nested elements with attributes and text, escaped and
//! indented. A dependency would bring a general parser and writer for four methods' worth.

/// Escapes the five characters XML reserves; valid in both text and attribute values.
pub fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Control characters other than tab and newlines are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => escaped.push(c),
        }
    }
    escaped
}

/// Writes a document top-down. Callers pass attributes in the order they should appear, so
/// the output is stable and snapshot-testable.
pub struct XmlWriter {
    out: String,
    depth: usize,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self { out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"), depth: 0 }
    }

    fn start_tag(&mut self, name: &str, attributes: &[(&str, String)]) {
        self.out.push_str(&"  ".repeat(self.depth));
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attributes {
            self.out.push_str(&format!(" {key}=\"{}\"", escape(value)));
        }
    }

    /// `<name a="1">` and a new indentation level; end it with [`XmlWriter::close`].
    pub fn open(&mut self, name: &str, attributes: &[(&str, String)]) {
        self.start_tag(name, attributes);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    /// `<name a="1"/>`.
    pub fn empty(&mut self, name: &str, attributes: &[(&str, String)]) {
        self.start_tag(name, attributes);
        self.out.push_str("/>\n");
    }

    /// `<name>text</name>`.
    pub fn text(&mut self, name: &str, text: &str) {
        self.start_tag(name, &[]);
        self.out.push_str(&format!(">{}</{name}>\n", escape(text)));
    }

    pub fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.out.push_str(&"  ".repeat(self.depth));
        self.out.push_str(&format!("</{name}>\n"));
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_characters_are_escaped() {
        assert_eq!(escape(r#"Tom & "Jerry" <'s>"#), "Tom &amp; &quot;Jerry&quot; &lt;&apos;s&gt;");
        assert_eq!(escape("bell\u{7}"), "bell");
    }

    #[test]
    fn elements_nest_with_indentation() {
        let mut xml = XmlWriter::new();
        xml.open("A", &[("x", "1".to_owned())]);
        xml.empty("B", &[]);
        xml.text("C", "a<b");
        xml.close("A");
        assert_eq!(
            xml.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A x=\"1\">\n  <B/>\n  <C>a&lt;b</C>\n</A>\n"
        );
    }
}
