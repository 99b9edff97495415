//! One pass over an event's XML that collects what the mapping reads, without building a tree:
//! a tree cost more than the rest of the mapping (58 % of it).
//!
//! What it collects is what a tree of the same document gives:
//! - an element's text is its first child's text, as a tree gives it: the text, CDATA and
//!   references before the element's first child element, comment or processing instruction,
//!   with line ends normalised (`\r\n` and `\r` to `\n`) and references resolved;
//! - attribute values are normalised as XML says (tabs and line ends to spaces, references
//!   resolved);
//! - elements are matched by their name without a namespace prefix, attributes by their plain
//!   name (below `UserData`, without a namespace prefix);
//! - of repeated elements the mapping reads (two `System`, two `EventID`), the first counts.
//!
//! The document must be well formed where a mapping could go wrong: tags closed and matched,
//! one root element, no text outside it, references only to the five predefined entities or
//! to characters, and no DTD (Windows writes none; refusing one keeps entity expansion out).
//! Attributes are read only on the elements the mapping reads (on `UserData`'s first child and
//! every element below it, all of them).

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::attributes::Attributes;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

/// What the mapping reads of one event.
#[derive(Debug, Default)]
pub(super) struct EventFields<'a> {
    /// `System`; `None` when the event has none.
    pub system: Option<SystemFields<'a>>,
    /// `RenderingInfo` (forwarded events).
    pub rendering: RenderingFields<'a>,
    /// `EventData`'s child elements, in order; `None` when the event has no `EventData`.
    pub event_data: Option<Vec<DataItem<'a>>>,
    /// `UserData`; `None` when the event has none.
    pub user_data: Option<UserData<'a>>,
}

/// `System`'s children: each text is `Some` when the element is there (`""` when it has no
/// text), each attribute when its element and the attribute are there.
#[derive(Debug, Default)]
pub(super) struct SystemFields<'a> {
    /// `Provider/@Name`, else `Provider/@EventSourceName`.
    pub provider_name: Option<Cow<'a, str>>,
    pub provider_guid: Option<Cow<'a, str>>,
    pub event_id: Option<Cow<'a, str>>,
    pub level: Option<Cow<'a, str>>,
    pub task: Option<Cow<'a, str>>,
    pub opcode: Option<Cow<'a, str>>,
    pub keywords: Option<Cow<'a, str>>,
    /// `TimeCreated/@SystemTime`.
    pub time_created: Option<Cow<'a, str>>,
    pub event_record_id: Option<Cow<'a, str>>,
    /// `Correlation/@ActivityID`.
    pub activity_id: Option<Cow<'a, str>>,
    /// `Execution/@ProcessID`.
    pub process_id: Option<Cow<'a, str>>,
    /// `Execution/@ThreadID`.
    pub thread_id: Option<Cow<'a, str>>,
    pub channel: Option<Cow<'a, str>>,
    pub computer: Option<Cow<'a, str>>,
    /// `Security/@UserID`.
    pub user_sid: Option<Cow<'a, str>>,
}

/// `RenderingInfo`'s children's texts.
#[derive(Debug, Default)]
pub(super) struct RenderingFields<'a> {
    pub message: Option<Cow<'a, str>>,
    pub level: Option<Cow<'a, str>>,
    pub task: Option<Cow<'a, str>>,
}

/// One child element of `EventData`.
#[derive(Debug)]
pub(super) struct DataItem<'a> {
    /// The element's name (`Data`, `Binary`...).
    pub element: &'a str,
    /// Its `Name` attribute.
    pub name: Option<Cow<'a, str>>,
    pub text: Cow<'a, str>,
}

/// `UserData`: its first child element's name, then in document order the values below it:
/// the text of each element with no child element (a leaf) under the element's name, and each
/// attribute of that element or one below it (namespace declarations aside) as
/// `element.attribute`. Providers such as CAPI2 put what matters in attributes
/// (`<EventAuxInfo ProcessName="mimikatz.exe"/>`).
#[derive(Debug, Default)]
pub(super) struct UserData<'a> {
    pub top: Option<&'a str>,
    pub values: Vec<UserValue<'a>>,
}

/// A value in `UserData`, with where it came from.
pub(super) type UserValue<'a> = (UserKey<'a>, Cow<'a, str>);

/// Where a value in `UserData` came from, lent from the document: the mapping builds the keys,
/// so that an element's name repeated in each of its attributes' keys is copied only within a
/// bound (see `mapping::user_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UserKey<'a> {
    /// A leaf element's text, under the element's name.
    Leaf(&'a str),
    /// An attribute, under `element.attribute`.
    Attribute { element: &'a str, attribute: &'a str },
}

/// Reads `xml` once; an error says what is wrong and where.
pub(super) fn scan(xml: &str) -> Result<EventFields<'_>, String> {
    let mut reader = Reader::from_str(xml);
    // Events nest five or six deep; a deeper one grows the list.
    let mut scan = Scan { xml, stack: Vec::with_capacity(8), ..Scan::default() };
    loop {
        let event = reader.read_event().map_err(|e| format!("{e} (at byte {})", reader.error_position()))?;
        match event {
            Event::Start(start) => scan.open(start, false)?,
            Event::Empty(start) => scan.open(start, true)?,
            Event::End(_) => scan.close(),
            Event::Text(text) => scan.text(text.xml10_content())?,
            Event::CData(data) => scan.text(data.xml10_content())?,
            Event::GeneralRef(reference) => scan.reference(&reference)?,
            Event::Comment(_) | Event::PI(_) => scan.other_child(),
            // A declaration where the document began, or an `<?xml?>` that a tree reads as a
            // processing instruction: it ends the open element's text.
            Event::Decl(_) => scan.other_child(),
            Event::DocType(_) => return Err("a DTD is not allowed in an event".into()),
            Event::Eof => break,
        }
    }
    scan.finish()
}

/// What an open element is to the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    System,
    /// A child of `System` read for its text.
    SystemText(SystemChild),
    Rendering,
    RenderingText(RenderingChild),
    EventData,
    DataItem,
    UserData,
    UserTop,
    /// An element below `UserData`'s first child; a leaf until a child element opens.
    UserInner {
        leaf: bool,
    },
    /// Read for its structure only.
    Other,
}

/// The children of `Event` the mapping reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventChild {
    System,
    RenderingInfo,
    EventData,
    UserData,
}

/// The children of `System` the mapping reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SystemChild {
    Provider,
    TimeCreated,
    Correlation,
    Execution,
    Security,
    EventId,
    Level,
    Task,
    Opcode,
    Keywords,
    EventRecordId,
    Channel,
    Computer,
}

/// The children of `RenderingInfo` the mapping reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RenderingChild {
    Message,
    Level,
    Task,
}

impl EventChild {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "System" => EventChild::System,
            "RenderingInfo" => EventChild::RenderingInfo,
            "EventData" => EventChild::EventData,
            "UserData" => EventChild::UserData,
            _ => return None,
        })
    }
}

impl SystemChild {
    fn of(name: &str) -> Option<Self> {
        use SystemChild::*;
        Some(match name {
            "Provider" => Provider,
            "TimeCreated" => TimeCreated,
            "Correlation" => Correlation,
            "Execution" => Execution,
            "Security" => Security,
            "EventID" => EventId,
            "Level" => Level,
            "Task" => Task,
            "Opcode" => Opcode,
            "Keywords" => Keywords,
            "EventRecordID" => EventRecordId,
            "Channel" => Channel,
            "Computer" => Computer,
            _ => return None,
        })
    }
}

impl RenderingChild {
    fn of(name: &str) -> Option<Self> {
        Some(match name {
            "Message" => RenderingChild::Message,
            "Level" => RenderingChild::Level,
            "Task" => RenderingChild::Task,
            _ => return None,
        })
    }
}

/// The elements read once, as bits of [`Scan::seen`]: the first of each name counts.
#[derive(Debug, Clone, Copy)]
enum ReadOnce {
    Event(EventChild),
    System(SystemChild),
    Rendering(RenderingChild),
}

impl ReadOnce {
    fn bit(self) -> u32 {
        match self {
            ReadOnce::Event(child) => 1 << (child as u32),
            ReadOnce::Rendering(child) => 1 << (4 + child as u32),
            ReadOnce::System(child) => 1 << (8 + child as u32),
        }
    }
}

/// An element open in the scan.
#[derive(Debug)]
struct Open<'a> {
    role: Role,
    name: &'a str,
    /// Its text (for the roles that read one).
    text: Cow<'a, str>,
    /// Whether its text may still grow: it reads a text, and no child but text came yet.
    growing: bool,
}

/// The scan's state: the open elements, which of the elements read once were seen, and what
/// was collected.
#[derive(Debug, Default)]
struct Scan<'a> {
    /// The document read.
    xml: &'a str,
    fields: EventFields<'a>,
    /// The elements open, the innermost last.
    stack: Vec<Open<'a>>,
    /// Whether the root element opened.
    rooted: bool,
    /// The [`ReadOnce`] elements seen.
    seen: u32,
}

impl<'a> Scan<'a> {
    fn open(&mut self, start: BytesStart<'a>, empty: bool) -> Result<(), String> {
        let name_length = start.name().as_ref().len();
        // A reader of a `&str` lends every tag: this error cannot happen, but is an error
        // rather than a panic if a new version of the reader copied one.
        let Some(tag) = lent(self.xml, &start) else {
            return Err("the XML reader copied a tag it should have lent".into());
        };
        let name = local_name(&tag[..name_length]);
        let parent = self.stack.last_mut().map(|parent| {
            parent.growing = false;
            if let Role::UserInner { leaf } = &mut parent.role {
                *leaf = false;
            }
            parent.role
        });
        let role = match parent {
            None if self.rooted => return Err(format!("a second root element <{}>", shown(name))),
            None => {
                self.rooted = true;
                Role::Root
            }
            Some(parent) => self.child_role(parent, name, Attributes::new(tag, name_length))?,
        };
        let growing = matches!(
            role,
            Role::SystemText(_) | Role::RenderingText(_) | Role::DataItem | Role::UserInner { .. }
        );
        self.stack.push(Open { role, name, text: Cow::Borrowed(""), growing });
        if empty {
            self.close();
        }
        Ok(())
    }

    /// The role of a `name` element opening in a `parent` element; reads the attributes the
    /// mapping wants of it.
    fn child_role(
        &mut self,
        parent: Role,
        name: &'a str,
        attributes: Attributes<'a>,
    ) -> Result<Role, String> {
        Ok(match parent {
            Role::Root => match EventChild::of(name) {
                Some(child) if self.first(ReadOnce::Event(child)) => match child {
                    EventChild::System => {
                        self.fields.system = Some(SystemFields::default());
                        Role::System
                    }
                    EventChild::RenderingInfo => Role::Rendering,
                    EventChild::EventData => {
                        self.fields.event_data = Some(Vec::new());
                        Role::EventData
                    }
                    EventChild::UserData => {
                        self.fields.user_data = Some(UserData::default());
                        Role::UserData
                    }
                },
                _ => Role::Other,
            },
            Role::System => match SystemChild::of(name) {
                Some(child) if self.first(ReadOnce::System(child)) => self.system_child(child, attributes)?,
                _ => Role::Other,
            },
            Role::Rendering => match RenderingChild::of(name) {
                Some(child) if self.first(ReadOnce::Rendering(child)) => Role::RenderingText(child),
                _ => Role::Other,
            },
            Role::EventData => {
                let [data_name] = attribute_values(attributes, ["Name"])?;
                if let Some(items) = &mut self.fields.event_data {
                    items.push(DataItem { element: name, name: data_name, text: Cow::Borrowed("") });
                }
                Role::DataItem
            }
            Role::UserData => match &mut self.fields.user_data {
                Some(user_data) if user_data.top.is_none() => {
                    user_data.top = Some(name);
                    user_attributes(name, attributes, &mut user_data.values)?;
                    Role::UserTop
                }
                _ => Role::Other,
            },
            Role::UserTop | Role::UserInner { .. } => {
                if let Some(user_data) = &mut self.fields.user_data {
                    user_attributes(name, attributes, &mut user_data.values)?;
                }
                Role::UserInner { leaf: true }
            }
            _ => Role::Other,
        })
    }

    /// The role of `System`'s first `child` of its name: its attributes are read now, its text
    /// when it closes.
    fn system_child(&mut self, child: SystemChild, attributes: Attributes<'a>) -> Result<Role, String> {
        let Some(system) = &mut self.fields.system else { return Ok(Role::Other) };
        match child {
            SystemChild::Provider => {
                let [name, source_name, guid] =
                    attribute_values(attributes, ["Name", "EventSourceName", "Guid"])?;
                system.provider_name = name.or(source_name);
                system.provider_guid = guid;
            }
            SystemChild::TimeCreated => [system.time_created] = attribute_values(attributes, ["SystemTime"])?,
            SystemChild::Correlation => [system.activity_id] = attribute_values(attributes, ["ActivityID"])?,
            SystemChild::Execution => {
                [system.process_id, system.thread_id] =
                    attribute_values(attributes, ["ProcessID", "ThreadID"])?;
            }
            SystemChild::Security => [system.user_sid] = attribute_values(attributes, ["UserID"])?,
            text => return Ok(Role::SystemText(text)),
        }
        Ok(Role::Other)
    }

    /// True the first time `element` opens in its parent.
    fn first(&mut self, element: ReadOnce) -> bool {
        let bit = element.bit();
        let first = self.seen & bit == 0;
        self.seen |= bit;
        first
    }

    fn close(&mut self) {
        // The reader matches end tags with start tags, so an end always has its element.
        let Some(element) = self.stack.pop() else { return };
        let text = element.text;
        match element.role {
            Role::SystemText(field) => {
                if let Some(slot) = self.fields.system.as_mut().and_then(|system| system.text_field(field)) {
                    *slot = Some(text);
                }
            }
            Role::RenderingText(field) => {
                let rendering = &mut self.fields.rendering;
                let slot = match field {
                    RenderingChild::Message => &mut rendering.message,
                    RenderingChild::Level => &mut rendering.level,
                    RenderingChild::Task => &mut rendering.task,
                };
                *slot = Some(text);
            }
            Role::DataItem => {
                if let Some(item) = self.fields.event_data.as_mut().and_then(|items| items.last_mut()) {
                    item.text = text;
                }
            }
            Role::UserInner { leaf: true } => {
                if let Some(user_data) = &mut self.fields.user_data {
                    user_data.values.push((UserKey::Leaf(element.name), text));
                }
            }
            _ => {}
        }
    }

    /// Text or CDATA: part of the open element's text while that may still grow; outside the
    /// root element, only white space may stand.
    fn text(&mut self, piece: Cow<'a, str>) -> Result<(), String> {
        match self.stack.last_mut() {
            Some(Open { text, growing: true, .. }) => append(text, piece),
            Some(_) => {}
            None if piece.trim_matches(['\t', '\n', '\r', ' ']).is_empty() => {}
            None => return Err("text outside the root element".into()),
        }
        Ok(())
    }

    /// `&name;` or `&#N;`: the predefined entities and characters only.
    fn reference(&mut self, reference: &BytesRef<'a>) -> Result<(), String> {
        let mut character = [0; 4];
        let resolved = resolve_reference(reference, &mut character)?;
        match self.stack.last_mut() {
            Some(Open { text, growing: true, .. }) => text.to_mut().push_str(resolved),
            Some(_) => {}
            None => return Err("a reference outside the root element".into()),
        }
        Ok(())
    }

    /// A comment or processing instruction: it ends the open element's text.
    fn other_child(&mut self) {
        if let Some(parent) = self.stack.last_mut() {
            parent.growing = false;
        }
    }

    fn finish(self) -> Result<EventFields<'a>, String> {
        if let Some(open) = self.stack.last() {
            return Err(format!("<{}> is not closed", shown(open.name)));
        }
        if !self.rooted {
            return Err("no root element".into());
        }
        Ok(self.fields)
    }
}

impl<'a> SystemFields<'a> {
    /// Where the text of a `System` child goes; `None` for those read for their attributes.
    fn text_field(&mut self, child: SystemChild) -> Option<&mut Option<Cow<'a, str>>> {
        Some(match child {
            SystemChild::EventId => &mut self.event_id,
            SystemChild::Level => &mut self.level,
            SystemChild::Task => &mut self.task,
            SystemChild::Opcode => &mut self.opcode,
            SystemChild::Keywords => &mut self.keywords,
            SystemChild::EventRecordId => &mut self.event_record_id,
            SystemChild::Channel => &mut self.channel,
            SystemChild::Computer => &mut self.computer,
            _ => return None,
        })
    }
}

/// A name without its namespace prefix.
fn local_name(name: &str) -> &str {
    // A plain loop: names are short, and a searcher cost more to set up than to run.
    match name.bytes().position(|b| b == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    }
}

/// Adds the attributes of `element` below `UserData` to `values` with their normalised values,
/// in document order; namespace declarations are left out.
fn user_attributes<'a>(
    element: &'a str,
    mut attributes: Attributes<'a>,
    values: &mut Vec<UserValue<'a>>,
) -> Result<(), String> {
    for attribute in attributes.with_checks(false) {
        let attribute = attribute.map_err(|e| format!("a bad attribute: {e}"))?;
        let key = attribute.key.0;
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = normalised(attribute.value)
            .map_err(|e| format!("a bad value of attribute {}: {e}", shown(key)))?;
        values.push((UserKey::Attribute { element, attribute: local_name(key) }, value));
    }
    Ok(())
}

/// A name from the document as an error shows it: its first 64 bytes at most, as a crafted event
/// can hold a name of any length.
fn shown(name: &str) -> &str {
    &name[..name.floor_char_boundary(64)]
}

/// The normalised values of the attributes `names`, in that order (the first of a repeated one).
fn attribute_values<'a, const N: usize>(
    mut attributes: Attributes<'a>,
    names: [&str; N],
) -> Result<[Option<Cow<'a, str>>; N], String> {
    let mut values = [const { None }; N];
    for attribute in attributes.with_checks(false) {
        let attribute = attribute.map_err(|e| format!("a bad attribute: {e}"))?;
        // A name that begins with ':' is read without it, as a tree reads it.
        let key = attribute.key.as_ref();
        let plain = key.strip_prefix(':').unwrap_or(key);
        if let Some(index) = names.iter().position(|name| *name == plain)
            && values[index].is_none()
        {
            let value =
                normalised(attribute.value).map_err(|e| format!("a bad value of attribute {key}: {e}"))?;
            values[index] = Some(value);
        }
    }
    Ok(values)
}

/// What `&name;` stands for: one of the five predefined entities, or a character (`&#N;`,
/// `&#xH;`). A number that is no character (a surrogate, past U+10FFFF) stands for U+FFFD, as a
/// tree reads it; `&#0;` is refused.
fn resolve_reference<'b>(name: &str, buffer: &'b mut [u8; 4]) -> Result<&'b str, String> {
    let Some(number) = name.strip_prefix('#') else {
        return resolve_predefined_entity(name).ok_or_else(|| format!("an unknown entity &{};", shown(name)));
    };
    let (digits, radix) = match number.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    let value = (!digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)))
        .then(|| u32::from_str_radix(digits, radix).ok())
        .flatten()
        .filter(|&value| value != 0)
        .ok_or_else(|| format!("a bad character reference &{};", shown(name)))?;
    Ok(char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER).encode_utf8(buffer))
}

/// An attribute's value normalised as XML says: each tab, line feed and carriage return (a
/// `\r\n` pair once) a space, and references resolved; lent when nothing changes.
fn normalised(raw: Cow<'_, str>) -> Result<Cow<'_, str>, String> {
    const SPECIAL: [char; 4] = ['&', '\t', '\n', '\r'];
    if !raw.contains(SPECIAL) {
        return Ok(raw);
    }
    let mut value = String::with_capacity(raw.len());
    let mut rest = &*raw;
    let mut character = [0; 4];
    while let Some(at) = rest.find(SPECIAL) {
        value.push_str(&rest[..at]);
        let special = rest.as_bytes()[at];
        rest = &rest[at + 1..];
        match special {
            b'&' => {
                let end = rest.find(';').ok_or("a reference without its ';'")?;
                value.push_str(resolve_reference(&rest[..end], &mut character)?);
                rest = &rest[end + 1..];
            }
            b'\r' => {
                value.push(' ');
                rest = rest.strip_prefix('\n').unwrap_or(rest);
            }
            _ => value.push(' '),
        }
    }
    value.push_str(rest);
    Ok(Cow::Owned(value))
}

/// `part` as the slice of `input` it is, when it is one (the reader lends tags out of the
/// document it reads, but its tag type gives them only for as long as it lives).
fn lent<'a>(input: &'a str, part: &str) -> Option<&'a str> {
    let offset = (part.as_ptr() as usize).checked_sub(input.as_ptr() as usize)?;
    input.get(offset..offset.checked_add(part.len())?).filter(|found| found.as_ptr() == part.as_ptr())
}

/// `piece` added to `text`, lent while `text` is empty.
fn append<'a>(text: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if text.is_empty() {
        *text = piece;
    } else {
        text.to_mut().push_str(&piece);
    }
}
