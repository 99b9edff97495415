#!/usr/bin/env python3
"""Writes the fuzz corpora's seeds: every golden vector's bytes (and its typed JSON), plus large
shapes a hostile peer could send, so that mutations start near the costly cases: a map of many
distinct keys (one repeated key away from the quadratic insert that decoding once had), many
small maps, deep nesting, an rpc-ret frame carrying such a map, and the same as JSON.

Usage: fuzz/seeds.py CORPUS_DIR TARGET (TARGET: decode, rpc_frames or json)."""
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


def main():
    corpus, target = sys.argv[1], sys.argv[2]
    os.makedirs(corpus, exist_ok=True)
    seeds = {}
    vectors = json.load(open("crates/kraken-codec/tests/data/vectors.json"))["vectors"]
    for v in vectors:
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
    else:
        seeds["typed_many_keys"] = typed_map(10_000).encode()
        seeds["plain_many_keys"] = json.dumps({f"k{i}": i for i in range(20_000)}).encode()
    for name, data in seeds.items():
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(data)


main()
