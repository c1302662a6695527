//! S3's XML, both ways.
//!
//! Requests: a bounded parse (quick-xml underneath) into a small element tree that the
//! operations read by local name, ignoring namespaces as S3 does. The bounds are the body
//! size the caller read (S3's configuration documents are small), 32 levels of nesting and
//! 100,000 elements, so no document can make the parse expensive. Comments, processing
//! instructions and the declaration are skipped; a DOCTYPE is refused (no entity expansion);
//! the five predefined entities and character references are decoded, anything else is an
//! error. Any refusal becomes S3's `MalformedXML`.
//!
//! Responses: a writer that escapes text and attribute values, so a key with `<` or `&`
//! reaches the client intact.

use std::fmt::Write as _;

use quick_xml::Reader;
use quick_xml::events::Event;

/// S3's XML namespace.
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

const MAX_DEPTH: usize = 32;
const MAX_ELEMENTS: usize = 100_000;

/// Why a request document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// Not UTF-8.
    #[error("the document is not UTF-8")]
    Encoding,
    /// Not well formed (quick-xml's reason, with the byte offset).
    #[error("{0}")]
    Syntax(String),
    /// No root element.
    #[error("the document is empty")]
    Empty,
    /// More than one root, or text outside the root.
    #[error("content after the root element")]
    Trailing,
    /// Deeper or larger than the bounds.
    #[error("the document is too deep or too large")]
    TooLarge,
    /// A DOCTYPE or an entity other than the five predefined ones.
    #[error("unsupported entity or DOCTYPE: {0}")]
    Entity(String),
}

/// One element: its local name, its text (concatenated, untrimmed) and its children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The local name (namespace prefix removed).
    pub name: String,
    /// The text directly inside it.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Every child named `name`.
    pub fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The trimmed text of the first child named `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

fn local(name: &str) -> String {
    match name.rsplit_once(':') {
        Some((_, n)) => n.to_owned(),
        None => name.to_owned(),
    }
}

fn entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses a request document.
pub fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::Encoding)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Syntax(format!("{e} at byte {}", reader.buffer_position())))?;
        match event {
            Event::Start(s) | Event::Empty(s) if root.is_some() => {
                let _ = s;
                return Err(XmlError::Trailing);
            }
            Event::Start(s) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                stack.push(Element {
                    name: local(s.name().as_ref()),
                    ..Element::default()
                });
            }
            Event::Empty(s) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                let e = Element {
                    name: local(s.name().as_ref()),
                    ..Element::default()
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => root = Some(e),
                }
            }
            Event::End(_) => {
                let Some(done) = stack.pop() else {
                    return Err(XmlError::Syntax("unexpected end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                match stack.last_mut() {
                    Some(e) => e.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(XmlError::Trailing),
                }
            }
            Event::CData(c) => match stack.last_mut() {
                Some(e) => e.text.push_str(&c.into_inner()),
                None => return Err(XmlError::Trailing),
            },
            Event::GeneralRef(r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|e| XmlError::Entity(e.to_string()))?
                } else {
                    entity(&r)
                };
                let Some(c) = c else {
                    return Err(XmlError::Entity(r.to_string()));
                };
                match stack.last_mut() {
                    Some(e) => e.text.push(c),
                    None => return Err(XmlError::Trailing),
                }
            }
            Event::DocType(d) => return Err(XmlError::Entity(format!("<!DOCTYPE {}>", &*d))),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Syntax(
            "unclosed element at end of document".into(),
        ));
    }
    root.ok_or(XmlError::Empty)
}

/// Escapes `s` for element text and attribute values.
pub fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry literally are written as references, as S3
            // does for keys with control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n') => {
                let _ = write!(out, "&#x{:X};", c as u32);
            }
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// A response document under construction.
#[derive(Debug)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// Starts a document whose root is `root` in S3's namespace.
    pub fn new(root: &str) -> Self {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(root);
        out.push_str(" xmlns=\"");
        out.push_str(NS);
        out.push_str("\">");
        Self { out }
    }

    /// Starts a document whose root carries no namespace (S3's `<Error>`).
    pub fn bare(root: &str) -> Self {
        let mut out = String::with_capacity(256);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(root);
        out.push('>');
        Self { out }
    }

    /// Opens `<name>`.
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Opens `<name attr="value"...>`.
    pub fn open_with(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape(v, &mut self.out);
            self.out.push('"');
        }
        self.out.push('>');
        self
    }

    /// Closes `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>text</name>`.
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        escape(text, &mut self.out);
        self.close(name)
    }

    /// `<name>text</name>` when there is a text.
    pub fn opt(&mut self, name: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.elem(name, t);
        }
        self
    }

    /// Closes the root and returns the document.
    pub fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_delete_request_with_entities_and_namespaces() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>
<Object><Key>a&amp;b &lt;c&gt; &#x41;&#66;</Key></Object><Object><Key><![CDATA[x<y]]></Key><VersionId>v1</VersionId></Object></Delete>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Delete");
        assert_eq!(root.text_of("Quiet"), Some("true"));
        let keys: Vec<&str> = root
            .children("Object")
            .filter_map(|o| o.text_of("Key"))
            .collect();
        assert_eq!(keys, ["a&b <c> AB", "x<y"]);
    }

    #[test]
    fn refuses_what_s3_refuses() {
        for bad in [
            &b""[..],
            b"<a>",
            b"<a></b>",
            b"<a/><b/>",
            b"<a>&bogus;</a>",
            b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
            b"\xff\xfe",
            b"text<a/>",
        ] {
            assert!(
                parse(bad).is_err(),
                "{:?} was accepted",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooLarge));
    }

    #[test]
    fn the_writer_escapes() {
        let mut w = Writer::new("R");
        w.elem("Key", "a<&>\"'\u{1}");
        assert_eq!(
            w.finish("R"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Key>a&lt;&amp;&gt;&quot;&apos;&#x1;</Key></R>"
        );
    }
}
