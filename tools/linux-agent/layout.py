#!/usr/bin/env python3
"""Lays out the static Linux agent's code and read-only data by a profile of what it touches.

Used by scripts/build-linux-agent.sh, in two steps:

  layout.py touched < lackey-trace > touched.txt
      Reads valgrind's `--tool=lackey --trace-mem=yes` trace (lines " L addr,size",
      " S addr,size", " M addr,size" and "I  addr,size") and prints, once each, the addresses
      the program executed or read, in hex.

  layout.py script LINK_MAP DEFAULT_LD TOUCHED [TOUCHED...] > agent.ld
      Finds the input section (ld's -Map output) holding each touched address and prints ld's
      default script with those sections placed first in .text and in .rodata: the sections
      of the first TOUCHED file, then those the next one adds, and so on.

Sections are named by -ffunction-sections / -fdata-sections (".text.<symbol>",
".rodata.<symbol>", ".rodata..Lanon.<hash>.<n>"): those names are matched on their own. A
section with a generic name (".text", ".rodata.str1.1") is matched in its own file only.
"""

import bisect
import os
import re
import sys

GENERIC = re.compile(r"^\.(text|rodata)(\.(str|cst)[0-9.]*|\.(unlikely|startup|hot|exit))?$")
# Cargo puts 16-hex-digit hashes in object names that change with the build's arguments, and
# the second link has other arguments than the profiled one: they are matched by a wildcard.
BUILD_HASH = re.compile(r"[0-9a-f]{16}")
# Characters ld reads as wildcards or separators in a section or file pattern.
UNSAFE = re.compile(r"[*?\[\]\s()]")


def touched(trace, out):
    seen = set()
    for line in trace:
        if len(line) < 4 or line[0:3] not in (" L ", " S ", " M ", "I  "):
            continue
        field = line[3:].split(",", 1)[0].strip()
        try:
            seen.add(int(field, 16))
        except ValueError:
            continue
    for address in sorted(seen):
        out.write(f"{address:x}\n")


def input_sections(link_map):
    """(start, size, output section, input section, file) of every input section in the map."""
    sections = []
    output = None
    pending = None
    in_memory_map = False
    for raw in link_map:
        line = raw.rstrip("\n")
        if line.startswith("Linker script and memory map"):
            in_memory_map = True
            continue
        if not in_memory_map or not line:
            continue
        if not line.startswith(" "):
            output = line.split()[0]
            pending = None
            continue
        fields = line.split()
        if line.startswith(" ") and not line.startswith("  ") and not line.startswith(" *"):
            # " .text.foo 0xADDR 0xSIZE file" or " .text.foo" with the rest on the next line.
            if len(fields) >= 4 and fields[1].startswith("0x") and fields[2].startswith("0x"):
                sections.append((int(fields[1], 16), int(fields[2], 16), output, fields[0], " ".join(fields[3:])))
                pending = None
            elif len(fields) == 1:
                pending = fields[0]
            else:
                pending = None
            continue
        if pending and len(fields) >= 3 and fields[0].startswith("0x") and fields[1].startswith("0x"):
            sections.append((int(fields[0], 16), int(fields[1], 16), output, pending, " ".join(fields[2:])))
        pending = None
    return sorted(s for s in sections if s[1] > 0)


def pattern(section, path):
    """An ld input-section pattern for this section, or None if it cannot be named safely."""
    if UNSAFE.search(section):
        return None
    if not GENERIC.match(section):
        return section
    # Generic name: only this file's. Archive members read "lib.a(member.o)" in the map and
    # are written "*lib.a:member.o" in a script; plain objects by their base name.
    member = re.match(r"^(.*)\(([^()]+)\)$", path)
    name = f"{os.path.basename(member.group(1))}:{member.group(2)}" if member else os.path.basename(path)
    if UNSAFE.search(name):
        return None
    return f"*{BUILD_HASH.sub('*', name)}({section})"


def chosen_sections(sections, touched_addresses, done):
    """ld patterns for the .text and .rodata input sections holding these addresses, except
    those already in `done` (which this adds to)."""
    starts = [s[0] for s in sections]
    chosen = {".text": [], ".rodata": []}
    for text in touched_addresses:
        address = int(text, 16)
        at = bisect.bisect_right(starts, address) - 1
        if at < 0 or sections[at][0] + sections[at][1] <= address:
            continue  # not in any input section: the heap, the stack, a linker-made table
        start, size, output, section, path = sections[at]
        key = (section, path)
        if output in chosen and key not in done:
            done.add(key)
            rule = pattern(section, path)
            if rule:
                chosen[output].append(rule)
    for rule_list in chosen.values():
        rule_list.sort()
    return chosen


def script(link_map, touched_files, default_script, out):
    sections = input_sections(link_map)
    done = set()
    groups = [chosen_sections(sections, touched, done) for touched in touched_files]

    def hot(output):
        # One statement per group: ld places what one statement matches in input order.
        lines = []
        for chosen in groups:
            plain = [r for r in chosen[output] if "(" not in r]
            qualified = [r for r in chosen[output] if "(" in r]
            if plain:
                lines.append("    *(\n" + "".join(f"      {r}\n" for r in plain) + "    )\n")
            lines.extend(f"    {r}\n" for r in qualified)
        return "".join(lines)

    text_open = False
    placed = {".text": False, ".rodata": False}
    for line in default_script:
        if re.match(r"^  \.rodata\s+: \{ \*\(\.rodata \.rodata\.\* \.gnu\.linkonce\.r\.\*\) \}$", line):
            out.write("  .rodata         :\n  {\n" + hot(".rodata"))
            out.write("    *(.rodata .rodata.* .gnu.linkonce.r.*)\n  }\n")
            placed[".rodata"] = True
            continue
        out.write(line)
        if re.match(r"^  \.text\s+:$", line.rstrip("\n")):
            text_open = True
        elif text_open and line.strip() == "{":
            out.write(hot(".text"))
            placed[".text"] = True
            text_open = False
    missing = [name for name, done_here in placed.items() if not done_here]
    if missing:
        sys.exit(f"layout.py: the default linker script has no {' or '.join(missing)} rule where expected")
    for number, chosen in enumerate(groups, 1):
        print(
            f"layout.py: profile {number}: {len(chosen['.text'])} more code and "
            f"{len(chosen['.rodata'])} more read-only data sections",
            file=sys.stderr,
        )


def main(argv):
    if len(argv) == 2 and argv[1] == "touched":
        touched(sys.stdin, sys.stdout)
    elif len(argv) >= 5 and argv[1] == "script":
        touched_files = []
        for path in argv[4:]:
            with open(path) as lines:
                touched_files.append(list(lines))
        with open(argv[2]) as link_map, open(argv[3]) as default_script:
            script(link_map, touched_files, default_script, sys.stdout)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
