//! The mapping on hand-written events in both XML forms, and on the odd ones.

use std::time::{Duration, UNIX_EPOCH};

use super::*;

/// A logon (4624) as `EvtRender` writes it: single quotes, no declaration, braced GUIDs.
const LOGON: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
<Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>\
<EventID>4624</EventID><Version>2</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode>\
<Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2026-11-30T07:15:02.1234567Z'/>\
<EventRecordID>3000000123</EventRecordID><Correlation ActivityID='{b1d9a3c0-1111-2222-3333-444455556666}'/>\
<Execution ProcessID='812' ThreadID='4100'/><Channel>Security</Channel><Computer>dc01.corp.example</Computer>\
<Security/></System><EventData><Data Name='SubjectUserSid'>S-1-5-18</Data>\
<Data Name='TargetUserName'>alice</Data><Data Name='LogonType'>3</Data><Data Name='IpAddress'>-</Data>\
</EventData></Event>";

fn map(xml: &str) -> Map {
    map_event(xml, &EventExtras::default(), &MappingOptions::default()).unwrap().params
}

fn text<'a>(params: &'a Map, key: &str) -> Option<&'a str> {
    params.get(key).and_then(Value::as_str)
}

#[test]
fn a_live_logon_maps_to_the_seed_keys_and_the_event_fields() {
    let mapped = map_event(LOGON, &EventExtras::default(), &MappingOptions::default()).unwrap();
    let p = &mapped.params;
    let created = UNIX_EPOCH + Duration::from_secs(1_796_022_902) + Duration::from_nanos(123_456_700);
    assert_eq!(mapped.date, created, "the record's date is TimeCreated");
    assert_eq!(p["record_id"], Value::I64(3_000_000_123));
    assert_eq!(p["record_number"], Value::I32(3_000_000_123u32 as i32), "the seed's i32, as Java cast it");
    assert_eq!(p["event_id"], Value::I32(4624));
    assert_eq!(text(p, "event_type"), Some("AuditSuccess"));
    assert_eq!(text(p, "generated"), Some("2026-11-30 07:15:02+0000"));
    assert_eq!(text(p, "written"), Some("2026-11-30 07:15:02+0000"), "live: the creation time");
    assert_eq!(text(p, "time_created"), Some("2026-11-30T07:15:02.1234567Z"));
    assert_eq!(text(p, "provider_name"), Some("Microsoft-Windows-Security-Auditing"));
    assert_eq!(text(p, "provider_guid"), Some("{54849625-5478-4994-A5BA-3E3B0328C30D}"));
    assert_eq!(text(p, "activity_id"), Some("{B1D9A3C0-1111-2222-3333-444455556666}"));
    assert_eq!(text(p, "channel"), Some("Security"));
    assert_eq!(text(p, "computer"), Some("dc01.corp.example"));
    assert_eq!((p["level"].clone(), text(p, "level_name")), (Value::I32(0), Some("Information")));
    assert_eq!((p["task"].clone(), p["opcode"].clone()), (Value::I32(12544), Value::I32(0)));
    assert_eq!(text(p, "keywords"), Some("0x8020000000000000"));
    assert_eq!((p["process_id"].clone(), p["thread_id"].clone()), (Value::I64(812), Value::I64(4100)));
    assert!(p["user_sid"].is_null() && p["user"].is_null() && p["user_domain"].is_null(), "<Security/>");
    assert!(p["msg"].is_null() && p["event_category"].is_null() && p["user_data"].is_null());
    let data = p["event_data"].as_map().unwrap();
    let keys: Vec<&str> = data.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["SubjectUserSid", "TargetUserName", "LogonType", "IpAddress"]);
    assert_eq!(data["TargetUserName"], Value::from("alice"));
    assert_eq!(text(p, "logtype"), Some("system"));
    let first: Vec<&str> = p.keys().take(2).map(|k| k.as_str()).collect();
    assert_eq!(first, ["logtype", "msg"], "logtype and msg first, as every record");
    assert!(!p.contains_key("xml") && !p.contains_key("truncated"));
}

#[test]
fn a_file_event_with_unnamed_data_binary_and_a_header_time() {
    let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">
  <System>
    <Provider Name="Service Control Manager" Guid="{555908d1-a6d7-4695-8e1e-26931d2012f4}" EventSourceName="Service Control Manager">
    </Provider>
    <EventID Qualifiers="16384">7036</EventID>
    <Level>4</Level>
    <Task>0</Task>
    <Keywords>0x8080000000000000</Keywords>
    <TimeCreated SystemTime="2016-07-08T18:12:51.681640800Z">
    </TimeCreated>
    <EventRecordID>2</EventRecordID>
    <Execution ProcessID="496" ThreadID="1600">
    </Execution>
    <Channel>System</Channel>
    <Computer>WIN-1</Computer>
    <Security UserID="S-1-5-18">
    </Security>
  </System>
  <EventData>
    <Data>Windows Error Reporting Service</Data>
    <Data>running</Data>
    <Data></Data>
    <Binary>57004500520053</Binary>
  </EventData>
</Event>"#;
    let written = UNIX_EPOCH + Duration::from_secs(1_468_001_572);
    let extras = EventExtras { written: Some(written), ..Default::default() };
    let mapped = map_event(xml, &extras, &MappingOptions::default()).unwrap();
    let p = &mapped.params;
    assert_eq!(p["event_id"], Value::I32(7036), "the qualifiers are not part of the id");
    assert_eq!(text(p, "time_created"), Some("2016-07-08T18:12:51.6816408Z"), "9 digits in, 7 out");
    assert_eq!(text(p, "written"), Some("2016-07-08 18:12:52+0000"));
    assert_eq!(text(p, "event_type"), Some("Information"));
    assert_eq!(text(p, "user_sid"), Some("S-1-5-18"));
    assert_eq!(p["task"], Value::I32(0));
    assert_eq!(p["opcode"], Value::I32(0), "absent: 0");
    let data = p["event_data"].as_map().unwrap();
    assert_eq!(data["param1"], Value::from("Windows Error Reporting Service"));
    assert_eq!(data["param2"], Value::from("running"));
    assert_eq!(data["param3"], Value::from(""), "an empty Data is an empty string");
    assert_eq!(data["binary"], Value::from("57004500520053"));
}

#[test]
fn unnamed_data_are_numbered_among_the_data_elements_only() {
    let xml = "<Event><System><EventID>1</EventID><TimeCreated SystemTime='2026-11-30T07:15:02Z'/>\
        </System><EventData><Binary>00FF</Binary><Data>first</Data><Data Name='n'>named</Data>\
        <Data>third</Data></EventData></Event>";
    let p = map(xml);
    let data = p["event_data"].as_map().unwrap();
    let entries: Vec<(&str, &str)> = data.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())).collect();
    assert_eq!(entries, [("binary", "00FF"), ("param1", "first"), ("n", "named"), ("param3", "third")]);
}

#[test]
fn the_provider_is_the_publisher_not_the_classic_source_name() {
    // Application_no_crc32.evtx record 428: a classic source logged through a manifest.
    let xml = LOGON
        .replace(
            "<Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>",
            "<Provider Name='Microsoft-Windows-Winlogon' Guid='{DBE9B383-7CF3-4331-91CC-A3CB16A3B538}' \
             EventSourceName='Wlclntfy'/>",
        )
        .replace("<EventID>4624</EventID>", "<EventID Qualifiers='32768'>6000</EventID>");
    let p = map(&xml);
    assert_eq!(text(&p, "provider_name"), Some("Microsoft-Windows-Winlogon"));
    assert_eq!(p["event_id"], Value::I32(6000));
    let only_source = LOGON.replace("Provider Name=", "Provider EventSourceName=");
    assert_eq!(text(&map(&only_source), "provider_name"), Some("Microsoft-Windows-Security-Auditing"));
}

#[test]
fn user_data_rendering_info_and_the_sources_extras() {
    let xml = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
<Provider Name='Microsoft-Windows-Eventlog'/><EventID>1102</EventID><Level>4</Level>\
<TimeCreated SystemTime='2026-01-02T03:04:05Z'/><EventRecordID>9</EventRecordID><Channel>Security</Channel>\
<Computer>pc</Computer><Security UserID='S-1-5-21-1-2-3-500'/></System>\
<UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'>\
<SubjectUserSid>S-1-5-21-1-2-3-500</SubjectUserSid><SubjectUserName>admin</SubjectUserName>\
<Nested><SubjectUserName>again</SubjectUserName></Nested></LogFileCleared></UserData>\
<RenderingInfo Culture='en-US'><Message>The audit log was cleared.\r\n\tSubject:\r\n\t\tadmin</Message>\
<Level>Information</Level><Task>Log clear</Task></RenderingInfo></Event>";
    let p = map(xml);
    assert_eq!(text(&p, "msg"), Some("The audit log was cleared. Subject: admin"), "one line, trimmed");
    assert_eq!(text(&p, "event_category"), Some("Log clear"));
    let user_data = p["user_data"].as_map().unwrap();
    assert_eq!(user_data["_element"], Value::from("LogFileCleared"));
    assert_eq!(user_data["SubjectUserName"], Value::from("admin"));
    assert_eq!(user_data["SubjectUserName_1"], Value::from("again"), "a repeated name is kept");
    assert!(p["event_data"].is_null());
    assert_eq!(text(&p, "time_created"), Some("2026-01-02T03:04:05.0000000Z"));

    let extras = EventExtras {
        message: Some("formatted".into()),
        account: Some(("CORP".into(), "admin".into())),
        ..Default::default()
    };
    let p = map_event(xml, &extras, &MappingOptions::default()).unwrap().params;
    assert_eq!(
        (text(&p, "msg"), text(&p, "user"), text(&p, "user_domain")),
        (Some("formatted"), Some("admin"), Some("CORP"))
    );
}

#[test]
fn user_data_attributes_are_kept_as_element_dot_attribute() {
    // Modelled on Microsoft-Windows-CAPI2/Operational 70 as Windows renders it: the process that
    // took a certificate's private key is only in an attribute.
    let xml = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>\
<Provider Name='Microsoft-Windows-CAPI2'/><EventID>70</EventID><Level>2</Level>\
<TimeCreated SystemTime='2026-01-02T03:04:05Z'/><EventRecordID>9</EventRecordID>\
<Channel>Microsoft-Windows-CAPI2/Operational</Channel><Computer>pc</Computer><Security/></System>\
<UserData><CryptAcquireCertificatePrivateKey xmlns:auto-ns2='http://schemas.microsoft.com/win/2004/08/events' \
xmlns='http://schemas.microsoft.com/win/2004/08/events/event' Version='1'>\
<Certificate fileRef='3CD6.cer' subjectName='wec02 &amp; co'/><Flags value='10000' FLAG='true'/>\
<EventAuxInfo ProcessName='mimikatz.exe'/><Result auto-ns2:value='0'>text</Result>\
</CryptAcquireCertificatePrivateKey></UserData></Event>";
    let p = map(xml);
    let user_data = p["user_data"].as_map().unwrap();
    let entries: Vec<(&str, &str)> =
        user_data.iter().map(|(key, value)| (key.as_str(), value.as_str().unwrap())).collect();
    assert_eq!(
        entries,
        [
            ("_element", "CryptAcquireCertificatePrivateKey"),
            ("CryptAcquireCertificatePrivateKey.Version", "1"),
            ("Certificate.fileRef", "3CD6.cer"),
            ("Certificate.subjectName", "wec02 & co"),
            ("Certificate", ""),
            ("Flags.value", "10000"),
            ("Flags.FLAG", "true"),
            ("Flags", ""),
            ("EventAuxInfo.ProcessName", "mimikatz.exe"),
            ("EventAuxInfo", ""),
            ("Result.value", "0"),
            ("Result", "text"),
        ],
        "namespace declarations left out, prefixes dropped, values normalised, document order"
    );

    // Only what is below UserData's first element counts: not UserData's own attributes, nor
    // a second element's.
    let xml = LOGON.replace(
        "</Event>",
        "<UserData u='1'><First a='1'><In i='2'/></First><Second b='2'><C c='3'>x</C></Second></UserData></Event>",
    );
    let p = map(&xml);
    let user_data = p["user_data"].as_map().unwrap();
    let keys: Vec<&str> = user_data.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["_element", "First.a", "In.i", "In"]);
}

#[test]
fn long_values_are_cut_at_a_character_boundary_and_flagged() {
    let long = "é".repeat(40_000); // 80,000 bytes
    let xml = LOGON.replace(
        "<Data Name='TargetUserName'>alice</Data>",
        &format!("<Data Name='TargetUserName'>{long}</Data>"),
    );
    let options = MappingOptions { max_field_bytes: 65_535, include_xml: true };
    let p = map_event(&xml, &EventExtras::default(), &options).unwrap().params;
    let cut = p["event_data"].as_map().unwrap()["TargetUserName"].as_str().unwrap().to_owned();
    assert_eq!(cut.len(), 65_534, "the last whole character before the bound");
    assert!(long.starts_with(&cut));
    assert_eq!(p["truncated"], Value::Bool(true));
    assert_eq!(text(&p, "xml").map(str::len), Some(65_535), "the XML is cut too");
}

/// Every text in `value`, map keys included: (path, bytes).
fn texts(value: &Value, path: &str, out: &mut Vec<(String, usize)>) {
    match value {
        Value::Str(text) => out.push((path.to_owned(), text.as_str().len())),
        Value::Map(map) => {
            for (key, value) in map.iter() {
                out.push((format!("{path} key {key:.20}"), key.as_str().len()));
                texts(value, &format!("{path}.{key:.20}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_text_taken_from_the_event_is_cut_names_too() {
    // A crafted `.evtx` file can hold any text where Windows writes short ones.
    let long = "x".repeat(1000);
    let xml = LOGON
        .replace(
            "Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'",
            &format!("Security-Auditing' Guid='{long}'"),
        )
        .replace("0x8020000000000000", &format!("0x8020000000000000{long}"))
        .replace("ActivityID='{b1d9a3c0-1111-2222-3333-444455556666}'", &format!("ActivityID='{long}'"))
        .replace("<Channel>Security</Channel>", &format!("<Channel>{long}</Channel>"))
        .replace("<Computer>dc01.corp.example</Computer>", &format!("<Computer>{long}</Computer>"))
        .replace("<Security/>", &format!("<Security UserID='{long}'/>"))
        .replace("<Data Name='LogonType'>", &format!("<Data Name='{long}'>"))
        .replace(
            "</Event>",
            &format!(
                "<UserData><Top><Inner {long}='{long}'/></Top></UserData>\
                 <RenderingInfo><Level>{long}</Level></RenderingInfo></Event>"
            ),
        );
    let extras = EventExtras { account: Some((long.clone(), long.clone())), ..EventExtras::default() };
    let options = MappingOptions { max_field_bytes: 100, include_xml: false };
    let p = map_event(&xml, &extras, &options).unwrap().params;
    let mut found = Vec::new();
    texts(&Value::Map(p.clone()), "params", &mut found);
    let over: Vec<_> = found.iter().filter(|(_, bytes)| *bytes > 100).collect();
    assert!(over.is_empty(), "{over:?}");
    for key in ["channel", "computer", "user_sid", "provider_guid", "activity_id", "keywords", "level_name"] {
        assert_eq!(text(&p, key).map(str::len), Some(100), "{key}");
    }
    let user_data = p["user_data"].as_map().unwrap();
    let (attribute, value) = user_data.iter().nth(1).unwrap();
    assert_eq!(
        (attribute.len(), value.as_str().map(str::len)),
        (100, Some(100)),
        "an attribute's name and value"
    );
    assert_eq!(p["truncated"], Value::Bool(true));
    assert_eq!(text(&p, "event_type"), Some("Information"), "keywords that do not parse are no audit result");
}

#[test]
fn names_repeated_in_event_data_and_levels_and_audit_failures() {
    let xml = LOGON
        .replace(
            "<Data Name='LogonType'>3</Data>",
            "<Data Name='LogonType'>3</Data><Data Name='LogonType'>10</Data>",
        )
        .replace("0x8020000000000000", "0x8010000000000000");
    let p = map(&xml);
    assert_eq!(text(&p, "event_type"), Some("AuditFailure"));
    let data = p["event_data"].as_map().unwrap();
    assert_eq!((data["LogonType"].as_str(), data["LogonType_1"].as_str()), (Some("3"), Some("10")));
    for (level, name, kind) in [
        (1, "Critical", "Error"),
        (2, "Error", "Error"),
        (3, "Warning", "Warning"),
        (5, "Verbose", "Information"),
    ] {
        let xml = LOGON
            .replace("<Level>0</Level>", &format!("<Level>{level}</Level>"))
            .replace("0x8020000000000000", "0x8000000000000000");
        let p = map(&xml);
        assert_eq!(
            (text(&p, "level_name"), text(&p, "event_type")),
            (Some(name), Some(kind)),
            "level {level}"
        );
    }
}

#[test]
fn a_name_repeated_thousands_of_times_maps_in_linear_time() {
    // Anyone who can write an event can repeat a Data name; each repeat used to scan the map
    // for every suffix tried (cubic). A clash with a literal `LogonType_2` is still avoided.
    let repeats = 20_000;
    let many = "<Data Name='LogonType'>x</Data>".repeat(repeats);
    let xml = LOGON.replace(
        "<Data Name='LogonType'>3</Data>",
        &format!("<Data Name='LogonType_2'>literal</Data><Data Name='LogonType'>3</Data>{many}"),
    );
    let started = std::time::Instant::now();
    let p = map(&xml);
    let took = started.elapsed();
    let data = p["event_data"].as_map().unwrap();
    assert_eq!(data["LogonType_2"].as_str(), Some("literal"));
    assert_eq!(data["LogonType"].as_str(), Some("3"));
    assert_eq!(data["LogonType_1"].as_str(), Some("x"));
    assert_eq!(data[format!("LogonType_{}", repeats + 1).as_str()].as_str(), Some("x"));
    assert!(took < std::time::Duration::from_secs(10), "{repeats} repeats took {took:?}");
}

#[test]
fn user_data_attributes_of_a_long_element_name_are_kept_within_the_event_size() {
    // A crafted file can give an element a long name and thousands of attributes: each
    // attribute's key repeats the name, so unbounded keys would grow as the square of the event.
    let element = "E".repeat(10_000);
    let attributes: String = (0..2_000).map(|n| format!(" a{n}=''")).collect();
    let xml = LOGON.replace(
        "</Event>",
        &format!("<UserData><Top><{element}{attributes}/><After>kept</After></Top></UserData></Event>"),
    );
    let p = map(&xml);
    let user_data = p["user_data"].as_map().unwrap();
    let key_bytes: usize = user_data.iter().map(|(key, _)| key.len()).sum();
    assert!(key_bytes <= 2 * xml.len(), "{key_bytes} key bytes for {} bytes of XML", xml.len());
    let kept = user_data.iter().filter(|(key, _)| key.starts_with(element.as_str())).count();
    assert!(kept > 1 && kept < 2_000 + 1, "{kept} of the element's entries kept");
    assert_eq!(user_data["After"].as_str(), Some("kept"), "what follows is still read");
    assert_eq!(p["truncated"], Value::Bool(true));
}

#[test]
fn bad_events_are_refused_with_what_is_wrong() {
    let error = |xml: &str| map_event(xml, &EventExtras::default(), &MappingOptions::default()).unwrap_err();
    assert!(matches!(error("<Event><System>"), MappingError::Xml(_)));
    assert_eq!(error("<Event/>"), MappingError::Missing("System"));
    let no_time = LOGON.replace("<TimeCreated SystemTime='2026-11-30T07:15:02.1234567Z'/>", "");
    assert_eq!(error(&no_time), MappingError::Missing("System/TimeCreated/@SystemTime"));
    let bad_time = LOGON.replace("2026-11-30T07:15:02.1234567Z", "2026-13-30T07:15:02Z");
    assert!(matches!(error(&bad_time), MappingError::Bad { field: "TimeCreated", .. }));
    let bad_id = LOGON.replace("<EventID>4624</EventID>", "<EventID>x</EventID>");
    assert!(matches!(error(&bad_id), MappingError::Bad { field: "EventID", .. }));
}

#[test]
fn texts_and_attributes_are_read_as_a_tree_gives_them() {
    // Prefixed names, references in attributes and text, CDATA, a comment inside a text, CRLF
    // line ends, a second `System` and a child element inside a `Data`.
    let xml = "<?xml version='1.0'?>\n<!-- before --><e:Event xmlns:e='urn:x'><e:System>\
        <Provider Name='a&amp;b&#x41;' Guid='{ab}'/><EventID>4<!-- c -->5</EventID>\
        <TimeCreated SystemTime='2026-11-30T07:15:02Z'/><Channel><![CDATA[Sec]]>urity</Channel>\
        <Computer>a\r\nb</Computer></e:System><System><EventID>9</EventID></System>\
        <EventData><Data Name='x'>1&lt;2<b>inner</b>after</Data><Data><!--first-->lost</Data>\
        </EventData></e:Event>\n";
    let p = map(xml);
    assert_eq!(text(&p, "provider_name"), Some("a&bA"));
    assert_eq!(p["event_id"], Value::I32(4), "the text before the comment; the second System is not read");
    assert_eq!(text(&p, "channel"), Some("Security"));
    assert_eq!(text(&p, "computer"), Some("a\nb"));
    let data = p["event_data"].as_map().unwrap();
    assert_eq!(data["x"].as_str(), Some("1<2"), "the text before the child element");
    assert_eq!(data["param2"].as_str(), Some(""), "a comment comes first");

    // An `<?xml?>` inside an element ends its text as a processing instruction does; a
    // reference to no character (a surrogate) stands for U+FFFD; `:Name` is read as `Name`;
    // attribute values have their line ends and tabs as spaces.
    let odd = LOGON.replace("<EventID>4624</EventID>", "<EventID>4<?xml?>5</EventID>").replace(
        "<Data Name='TargetUserName'>alice</Data>",
        "<Data Name='&#xD800;x'>a&#xD800;</Data><Data :Name='colon'>c</Data><Data Name='t\tu\r\nv'>w</Data>",
    );
    let p = map(&odd);
    assert_eq!(p["event_id"], Value::I32(4));
    let data = p["event_data"].as_map().unwrap();
    assert_eq!(data["\u{FFFD}x"].as_str(), Some("a\u{FFFD}"));
    assert_eq!(data["colon"].as_str(), Some("c"));
    assert_eq!(data["t u v"].as_str(), Some("w"));
}

#[test]
fn malformed_documents_and_dtds_are_refused() {
    let body = "<System><EventID>1</EventID><TimeCreated SystemTime='2026-11-30T07:15:02Z'/></System>";
    for (xml, why) in [
        (format!("<!DOCTYPE Event [<!ENTITY a 'b'>]><Event>{body}</Event>"), "DTD"),
        (format!("<Event>{body}</Event><Event/>"), "second root"),
        (format!("<Event>{body}</Event>x"), "outside the root"),
        (format!("<Event>{body}<EventData><Data>&a;</Data></EventData></Event>"), "unknown entity"),
        (format!("<Event>{body}</System></Event>"), ""),
        (format!("<Event>{body}"), "not closed"),
        (format!("<Event>{body}<EventData><Data>&#0;</Data></EventData></Event>"), "character reference"),
        (format!("<Event>{body}<UserData><T><E a b='1'/></T></UserData></Event>"), "bad attribute"),
        (format!("<Event>{body}<UserData><T><E b='&c;'/></T></UserData></Event>"), "attribute b"),
        (String::new(), "no root"),
    ] {
        match map_event(&xml, &EventExtras::default(), &MappingOptions::default()) {
            Err(MappingError::Xml(error)) => assert!(error.contains(why), "{xml}: {error}"),
            other => panic!("{xml}: {other:?}"),
        }
    }
}
