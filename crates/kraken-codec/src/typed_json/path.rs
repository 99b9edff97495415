//! [`Path`]: where a value sits in a typed-JSON document (`$.entries[3][1].v`), for error
//! messages. It is a chain of borrowed steps, written out as text only when an error names it,
//! so a large document costs no string per value while it parses.

use std::fmt;

/// A place in the document: the root, or one step below another place.
#[derive(Clone, Copy)]
pub(super) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

/// One step of a [`Path`].
#[derive(Clone, Copy)]
enum Step<'a> {
    /// The document itself: `$`.
    Root,
    /// An object field: `.name`.
    Field(&'a str),
    /// An element of an array field: `.name[i]`.
    Item(&'a str, usize),
    /// An element of an array: `[i]`.
    Index(usize),
}

impl<'a> Path<'a> {
    /// The whole document.
    pub(super) const ROOT: Path<'static> = Path { parent: None, step: Step::Root };

    /// The field `name` of the object here.
    pub(super) fn field(&'a self, name: &'a str) -> Path<'a> {
        Path { parent: Some(self), step: Step::Field(name) }
    }

    /// Element `index` of the array field `name` of the object here.
    pub(super) fn item(&'a self, name: &'a str, index: usize) -> Path<'a> {
        Path { parent: Some(self), step: Step::Item(name, index) }
    }

    /// Element `index` of the array here.
    pub(super) fn index(&'a self, index: usize) -> Path<'a> {
        Path { parent: Some(self), step: Step::Index(index) }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            parent.fmt(f)?;
        }
        match self.step {
            Step::Root => f.write_str("$"),
            Step::Field(name) => write!(f, ".{name}"),
            Step::Item(name, index) => write!(f, ".{name}[{index}]"),
            Step::Index(index) => write!(f, "[{index}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_step() {
        let entries = Path::ROOT.item("entries", 3);
        let value = entries.index(1);
        assert_eq!(value.field("v").to_string(), "$.entries[3][1].v");
        assert_eq!(Path::ROOT.to_string(), "$");
    }
}
