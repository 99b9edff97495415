#!/usr/bin/env python3
"""Writes the fuzz corpora's seeds: every golden vector's bytes (and its typed JSON), plus large
shapes a hostile peer could send, so that mutations start near the costly cases: a map of many
distinct keys (one repeated key away from the quadratic insert that decoding once had), many
small maps, deep nesting, an rpc-ret frame carrying such a map, and the same as JSON.

Usage: fuzz/seeds.py CORPUS_DIR TARGET (TARGET: decode, rpc_frames, json, evtx_file or event_xml)."""
import json
import os
import sys


def varint(n):
    groups = [n & 0x7F]
    n >>= 7
    while n:
        groups.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(groups))


def string(text):
    data = text.encode()
    return b"\x05" + varint(len(data)) + data


def zint32(v):
    return b"\x0d" + varint(((v << 1) ^ (v >> 31)) & 0xFFFFFFFF)


def container(tag, content):
    return bytes([tag]) + varint(len(content)) + content


def kmap(entries):
    return container(0x09, b"".join(string(k) + v for k, v in entries))


def array(items):
    return container(0x0A, b"".join(items))


def many_keys(n):
    return kmap((f"k{i}", zint32(i)) for i in range(n))


def many_small_maps(n):
    return array(kmap([("pid", zint32(i)), ("name", string("svchost.exe"))]) for i in range(n))


def deep(depth):
    value = zint32(7)
    for _ in range(depth):
        value = kmap([("k", value)])
    return value


def frame(ret):
    header = kmap([("session", zint32(3)), ("id", zint32(2)), ("type", string("rpc-ret")), ("ret-for", zint32(1))])
    return array([header, kmap([("method", string("getProcesses")), ("ret", ret)])])


def typed_map(n):
    entries = [[f"k{i}", {"t": "i32", "v": i}] for i in range(n)]
    return json.dumps({"t": "map", "java": "java.util.HashMap", "entries": entries})


def uncut(xml):
    """`xml` padded with spaces to a length the event_xml target maps with no cut (a multiple of 3)."""
    return xml + " " * (-len(xml.encode()) % 3)


def event(body, system=None):
    system = system or (
        "<Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>"
        "<EventID Qualifiers='16384'>4624</EventID><Version>2</Version><Level>0</Level><Task>12544</Task>"
        "<Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords>"
        "<TimeCreated SystemTime='2024-05-01T10:11:12.1234567Z'/><EventRecordID>42</EventRecordID>"
        "<Correlation ActivityID='{0d6b6c3a-1f2e-4b5c-8d9e-0a1b2c3d4e5f}'/><Execution ProcessID='4' ThreadID='8'/>"
        "<Channel>Security</Channel><Computer>dc1.example</Computer><Security UserID='S-1-5-18'/>"
    )
    return f"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>{system}</System>{body}</Event>"


# Events in the shapes the mapping reads: named and unnamed data, binary, user data, a forwarded
# event's rendering info, entities and CDATA, a file's rendering (declaration, double quotes,
# indentation); and structured queries.
EVENT_XML = {
    "named_data": event("<EventData><Data Name='TargetUserName'>alice</Data><Data Name='LogonType'>3</Data></EventData>"),
    "unnamed_data": event("<EventData><Data>one</Data><Data>two</Data><Data/><Binary>00FF10</Binary></EventData>"),
    "user_data": event("<UserData><LogFileCleared xmlns='http://manifests.microsoft.com/win/2004/08/windows/eventlog'>"
                       "<SubjectUserName>bob</SubjectUserName><SubjectUserName>again</SubjectUserName></LogFileCleared></UserData>"),
    "user_data_attributes": event("<UserData><CryptAcquireCertificatePrivateKey xmlns:a='urn:x' Version='1'>"
                                  "<Certificate fileRef='3CD6.cer' subjectName='a &amp; b'/><Flags value='1' a:value='2'/>"
                                  "<EventAuxInfo ProcessName='mimikatz.exe'/></CryptAcquireCertificatePrivateKey></UserData>"),
    # A long element name with many attributes, whose length takes the fuzz target's uncut path: each
    # attribute's key repeats the name, which once made the record grow as the square of the event.
    "user_data_long_name": uncut(event("<UserData><E><" + "N" * 3000 + "".join(f" a{i}=''" for i in range(1000))
                                       + "/></E></UserData>")),
    "rendering_info": event("<EventData><Data Name='x'>&lt;&amp;&gt;&#x41;&#66;</Data></EventData>"
                            "<RenderingInfo Culture='en-US'><Message>An account was logged on.&#13;&#10;Second line</Message>"
                            "<Level>Information</Level><Task>Logon</Task><Keywords><Keyword>Audit Success</Keyword></Keywords>"
                            "</RenderingInfo>"),
    "cdata": event("<EventData><Data Name='Script'><![CDATA[Write-Host '<hi>' & more]]></Data></EventData>"),
    "file_rendering": '<?xml version="1.0" encoding="utf-8"?>\n<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">\n'
                      '  <System>\n    <Provider Name="Service Control Manager" EventSourceName="Service Control Manager"/>\n'
                      '    <EventID Qualifiers="16384">7036</EventID>\n    <Level>4</Level>\n'
                      '    <TimeCreated SystemTime="2016-07-08T18:12:51.681640Z"/>\n    <EventRecordID>1</EventRecordID>\n'
                      '    <Channel>System</Channel>\n    <Computer>WIN</Computer>\n  </System>\n'
                      '  <EventData>\n    <Data Name="param1">Windows Update</Data>\n  </EventData>\n</Event>',
    "query_list": "<QueryList><Query Id='0' Path='Security'><Select Path='Security'>*[System[(EventID=4624)]]</Select>"
                  "<Suppress Path='Security'>*[EventData[Data[@Name='LogonType']='5']]</Suppress></Query></QueryList>",
    "query_xpath": "*[System[Provider[@Name='Microsoft-Windows-Security-Auditing'] and (Level=0 or Level=4)]]",
}


def main():
    corpus, target = sys.argv[1], sys.argv[2]
    os.makedirs(corpus, exist_ok=True)
    seeds = {}
    vectors = json.load(open("crates/kraken-codec/tests/data/vectors.json"))["vectors"]
    for v in vectors if target in ("decode", "rpc_frames", "json") else []:
        if target == "json":
            seeds[f"{v['name']}_typed"] = json.dumps(v["value"]).encode()
            continue
        for key in ("hex", "hex_jdk6_7_order"):
            if v.get(key):
                seeds[f"{v['name']}_{key}"] = bytes.fromhex(v[key])
    if target == "decode":
        seeds["many_keys"] = many_keys(20_000)
        seeds["many_small_maps"] = many_small_maps(5_000)
        seeds["deep"] = deep(40)
    elif target == "rpc_frames":
        seeds["ret_many_keys"] = frame(many_keys(20_000))
        seeds["ret_many_small_maps"] = frame(many_small_maps(5_000))
        seeds["ret_small"] = frame(kmap([("a", zint32(1))]))
    elif target == "evtx_file":
        # Each sample as it is and as its first two chunks (inputs stay under 1 MiB), with each
        # option byte: recover off and on, batches of 1 and 1,000.
        samples = "testdata/evtx"
        for name in sorted(os.listdir(samples)):
            if name.endswith(".evtx"):
                data = open(os.path.join(samples, name), "rb").read()[: 4096 + 2 * 65536]
                for flags in (0, 1, 6, 7):
                    seeds[f"{name}_{flags}"] = bytes([flags]) + data
    elif target == "event_xml":
        for name, xml in EVENT_XML.items():
            seeds[name] = xml.encode()
        seeds["many_data"] = event("<EventData>" + "".join(f"<Data Name='k{i}'>{i}</Data>" for i in range(5_000)) + "</EventData>").encode()
        seeds["deep_user_data"] = event("<UserData>" + "<a>" * 500 + "x" + "</a>" * 500 + "</UserData>").encode()
    else:
        seeds["typed_many_keys"] = typed_map(10_000).encode()
        seeds["plain_many_keys"] = json.dumps({f"k{i}": i for i in range(20_000)}).encode()
    for name, data in seeds.items():
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(data)


main()
