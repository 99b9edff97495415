#!/usr/bin/env python3
"""Tests of layout.py on small pieces of real ld map, lackey trace and linker script text.

Run: python3 tools/linux-agent/test_layout.py (scripts/test-linux-agent.sh does).
"""

import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import layout  # noqa: E402

MAP = """\
Archive member included to satisfy reference by file (symbol)

Discarded input sections

 .text.unused   0x0000000000000000       0x10 /tmp/rustcAbc/kraken_sentry-1.kraken_sentry.a-cgu.0.rcgu.o

Linker script and memory map

LOAD /usr/lib/x86_64-linux-musl/crt1.o
                0x0000000000400000                PROVIDE (__executable_start = SEGMENT_START ("text-segment", 0x400000))
.text           0x0000000000401000     0x1000
 *(.text.unlikely .text.*_unlikely .text.unlikely.*)
 .text.unlikely._RNvCs1_4cold8slow_path
                0x0000000000401000       0x40 /tmp/rustcAbc/kraken_sentry-1.kraken_sentry.a-cgu.0.rcgu.o
 *fill*         0x0000000000401040       0x10
 .text          0x0000000000401050       0x30 /usr/lib/x86_64-linux-musl/libc.a(memset.lo)
                0x0000000000401050                memset
 .text.sqlite3_open_v2
                0x0000000000401080       0x20 /x/liblibsqlite3_sys-9.rlib(8017-sqlite3.o)
                0x0000000000401080                sqlite3_open_v2
 .text.main     0x00000000004010a0       0x10 /usr/lib/x86_64-linux-musl/crt1.o

.rodata         0x0000000000500000      0x200
 .rodata..Lanon.abc.1
                0x0000000000500000       0x80 /tmp/rustcAbc/kraken_sentry-1.kraken_sentry.a-cgu.0.rcgu.o
 .rodata.str1.1
                0x0000000000500080      0x100 /x/liblibsqlite3_sys-9.rlib(8017-sqlite3.o)
 .rodata.cold_table
                0x0000000000500180       0x80 /tmp/rustcAbc/kraken_sentry-1.kraken_sentry.a-cgu.0.rcgu.o

.data           0x0000000000600000       0x10
 .data.counter  0x0000000000600000       0x10 /tmp/rustcAbc/kraken_sentry-1.kraken_sentry.a-cgu.0.rcgu.o
"""

DEFAULT_SCRIPT = """\
SECTIONS
{
  .text           :
  {
    *(.text.unlikely .text.*_unlikely .text.unlikely.*)
    *(.text .stub .text.* .gnu.linkonce.t.*)
  }
  .rodata         : { *(.rodata .rodata.* .gnu.linkonce.r.*) }
}
"""

RUST_OBJECT = "/tmp/rustcAbc/kraken_sentry-1.kraken_sentry.a-cgu.0.rcgu.o"


class InputSections(unittest.TestCase):
    def test_reads_one_and_two_line_entries_of_the_memory_map_only(self):
        sections = layout.input_sections(io.StringIO(MAP))
        names = [(output, name) for _, _, output, name, _ in sections]
        self.assertEqual(
            names,
            [
                (".text", ".text.unlikely._RNvCs1_4cold8slow_path"),
                (".text", ".text"),
                (".text", ".text.sqlite3_open_v2"),
                (".text", ".text.main"),
                (".rodata", ".rodata..Lanon.abc.1"),
                (".rodata", ".rodata.str1.1"),
                (".rodata", ".rodata.cold_table"),
                (".data", ".data.counter"),
            ],
        )
        first = sections[0]
        self.assertEqual((first[0], first[1], first[4]), (0x401000, 0x40, RUST_OBJECT))
        memset = sections[1]
        self.assertEqual(memset[4], "/usr/lib/x86_64-linux-musl/libc.a(memset.lo)")


class Patterns(unittest.TestCase):
    def test_a_named_section_is_matched_by_its_name(self):
        self.assertEqual(layout.pattern(".text.sqlite3_open_v2", "/x/a.rlib(b.o)"), ".text.sqlite3_open_v2")

    def test_a_generic_section_is_matched_in_its_own_file(self):
        self.assertEqual(
            layout.pattern(".text", "/usr/lib/x86_64-linux-musl/libc.a(memset.lo)"), "*libc.a:memset.lo(.text)"
        )
        self.assertEqual(layout.pattern(".rodata.str1.1", "/usr/lib/crt1.o"), "*crt1.o(.rodata.str1.1)")
        self.assertEqual(layout.pattern(".text.unlikely", "/usr/lib/crt1.o"), "*crt1.o(.text.unlikely)")

    def test_a_build_hash_in_a_file_name_is_a_wildcard(self):
        self.assertEqual(
            layout.pattern(".rodata.cst16", "/t/rustcX/kraken_sentry-8ab95b05b7902705.kraken_sentry.65056f5baf994d94-cgu.0.rcgu.o"),
            "*kraken_sentry-*.kraken_sentry.*-cgu.0.rcgu.o(.rodata.cst16)",
        )

    def test_a_name_ld_would_read_as_a_wildcard_is_left_out(self):
        self.assertIsNone(layout.pattern(".text.a*b", "/x.o"))
        self.assertIsNone(layout.pattern(".text", "/dir/x y.o"))


class Touched(unittest.TestCase):
    def test_keeps_each_executed_or_read_address_once(self):
        trace = "==1== Lackey\nI  00401000,3\n L 00500004,8\n S 7ffc0010,8\nI  00401000,3\n M 00600000,4\n"
        out = io.StringIO()
        layout.touched(io.StringIO(trace), out)
        self.assertEqual(out.getvalue().split(), ["401000", "500004", "600000", "7ffc0010"])


class Script(unittest.TestCase):
    def test_places_the_first_profiles_sections_then_what_the_next_adds(self):
        alone = ["401085\n", "500010\n", "600000\n"]  # sqlite3_open_v2, an anonymous constant, .data
        linked = ["401000\n", "401060\n", "500090\n", "401085\n", "700000\n"]
        out = io.StringIO()
        layout.script(io.StringIO(MAP), [alone, linked], io.StringIO(DEFAULT_SCRIPT), out)
        text = out.getvalue()
        expected_text = (
            "  .text           :\n  {\n"
            "    *(\n      .text.sqlite3_open_v2\n    )\n"
            "    *(\n      .text.unlikely._RNvCs1_4cold8slow_path\n    )\n"
            "    *libc.a:memset.lo(.text)\n"
            "    *(.text.unlikely .text.*_unlikely .text.unlikely.*)\n"
        )
        self.assertIn(expected_text, text)
        expected_rodata = (
            "  .rodata         :\n  {\n"
            "    *(\n      .rodata..Lanon.abc.1\n    )\n"
            "    *liblibsqlite3_sys-9.rlib:8017-sqlite3.o(.rodata.str1.1)\n"
            "    *(.rodata .rodata.* .gnu.linkonce.r.*)\n  }\n"
        )
        self.assertIn(expected_rodata, text)
        self.assertNotIn("cold_table", text)
        self.assertNotIn(".data.counter", text)

    def test_refuses_a_default_script_without_the_expected_rules(self):
        with self.assertRaises(SystemExit):
            layout.script(io.StringIO(MAP), [["401085\n"]], io.StringIO("SECTIONS\n{\n}\n"), io.StringIO())


if __name__ == "__main__":
    unittest.main()
