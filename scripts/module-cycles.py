#!/usr/bin/env python3
"""Find import cycles between the modules of each crate in the workspace; exit 1 if any.

Every `.rs` file under `crates/NAME/src` is one module: `lib.rs` (or `main.rs` when there is
no `lib.rs`) is `crate`, `foo.rs` and `foo/mod.rs` are `foo`, `foo/bar.rs` is `foo::bar`.
Binaries (`src/bin/*`, and `src/main.rs` beside a `lib.rs`) are separate crates that reach the
library by its name, so they are ignored, as are `tests/`, `benches/` and `examples/`.

Module A depends on module B when A's non-test code names an item DEFINED in B, through a `use`
(grouped, renamed, glob, multi-line) or an inline path (`crate::x::Y`, `super::f()`,
`child::Z`). Comments, doc comments, string and char literals, `#[cfg(test)]` items and
`mod tests { .. }` blocks are blanked first. A path is resolved module by module; a name that a
module only imports or re-exports (`pub use`, `use`, globs) is followed to the module that
defines it, so a `mod.rs` that only re-exports its children forms no cycle with them, while a
child using an item defined in its `mod.rs` does. A cycle is a strongly connected component of
more than one module (Tarjan). An unresolvable path counts as a reference to the deepest module
found and is reported on stderr.

Usage:  python3 scripts/module-cycles.py [--graph] [crates/NAME ...]   (default: crates/*)
        python3 scripts/module-cycles.py --self-test
--graph prints each crate's edges (`a -> b`). Exit: 1 on a cycle or self-test failure, else 0.
"""
import bisect
import os
import re
import sys
import tempfile
from pathlib import Path

LEX = re.compile(r'''(//[^\n]*)|(/\*)|(b?r(#*)"[\s\S]*?"\4|b?"(?:\\[\s\S]|[^"\\])*"'''
                 r'''|'(?:\\(?:u\{[0-9a-fA-F_]*\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])')|\w+''')
BLOCK = re.compile(r'/\*|\*/')
TEST_ITEM = re.compile(r'#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]|\bmod\s+tests\s*\{')
DEF = re.compile(r"(?<!')\b(?:fn|struct|enum|trait|type|const|static|union)\s+(?=(?:mut\s+)?"
                 r"(?!fn\b|unsafe\b|extern\b|async\b)([A-Za-z_]\w*))|\bmacro_rules!\s*(\w+)|\bmod\s+(\w+)\s*\{")
USE = re.compile(r'(?<![\w.$])use\s+(?=[\w:{$])')
PATH = re.compile(r'(?<![\w.:$])(\$?crate|self|super|[a-z_]\w*)((?:\s*::\s*[A-Za-z_]\w*)+)')
EXT, SAME = 'ext', 'same'  # anchors: outside the crate; inside this file's inline modules

def blank(text):
    """Spaces for every character but newlines, so offsets and line numbers stay valid."""
    return re.sub(r'[^\n]', ' ', text)

def strip_code(src):
    """Blank comments (nested block comments too), string, raw string and char literals."""
    out, i = [], 0
    while (m := LEX.search(src, i)):
        j = m.end()
        if m.group(2):  # block comment: find its matching */
            depth = 0
            for t in BLOCK.finditer(src, m.start()):
                depth += 1 if t.group() == '/*' else -1
                if depth == 0:
                    break
            j = t.end() if depth == 0 else len(src)
        literal = m.group(1) or m.group(2) or m.group(3)
        out.append(src[i:m.start()] + blank(src[m.start():j]) if literal else src[i:j])
        i = j
    return ''.join(out) + src[i:]

def item_end(code, start):
    """Offset just past the item (attributes included) that starts at `start`."""
    kw = re.compile(r'(?:\s*#\s*\[[^\]]*\])*\s*(?:pub\s*(?:\([^)]*\))?\s*)?(\w+)').match(code, start)
    to_semicolon = kw is not None and kw.group(1) in ('use', 'const', 'static', 'type', 'let')
    depth = 0
    for j in range(start, len(code)):
        depth += (code[j] in '([{') - (code[j] in ')]}')
        if depth < 0:
            return j
        if depth == 0 and (code[j] == ';' or (code[j] == '}' and not to_semicolon)):
            return j + 1
    return len(code)

def strip_tests(code):
    """Blank `#[cfg(test)]` items and `mod tests {}`; return (code, names of test-only `mod x;`)."""
    if re.search(r'#!\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]', code):
        return blank(code), set()
    test_mods, pos = set(), 0
    while (m := TEST_ITEM.search(code, pos)):
        pos = item_end(code, m.start())
        test_mods |= set(re.findall(r'\bmod\s+(\w+)\s*;\s*$', code[m.start():pos]))
        code = code[:m.start()] + blank(code[m.start():pos]) + code[pos:]
    return code, test_mods

def parse_use_tree(body):
    """Flatten a use tree into [(segments, bound name or '*')]; a leading `::` stays a segment."""
    toks, out = re.findall(r'::|[{},*]|\$?\w+', body), []

    def leaf(segs, alias):
        segs = segs[:-1] if len(segs) > 1 and segs[-1] == 'self' else segs
        out.append((segs, alias or segs[-1]))

    def tree(i, prefix):
        segs = prefix if prefix or toks[:1] != ['::'] else ['::']
        while i < len(toks) and toks[i] not in (',', '}'):
            t = toks[i]
            if t == '{':
                i += 1
                while i < len(toks) and toks[i] != '}':
                    i = tree(i, segs)
                    i += i < len(toks) and toks[i] == ','
                return i + 1
            if t in ('*', 'as'):
                if t == '*':
                    out.append((segs, '*'))
                elif i + 1 < len(toks) and segs:
                    leaf(segs, toks[i + 1])
                return i + 1 + (t == 'as')
            segs = segs if t == '::' else segs + [t]
            i += 1
        if len(segs) > len(prefix):
            leaf(segs, None)
        return i

    tree(0, [])
    return out

def read_uses(code, where):
    """The use statements: ({name: (segments, inline depth)}, [(segments, where)], [(segments, where,
    is_pub)] for globs, and the code with them blanked)."""
    binds, uses, globs, kept, i = {}, [], [], [], 0
    for m in USE.finditer(code):
        if m.start() < i:  # `use` inside a use statement already read
            continue
        end = code.find(';', m.end()) % (len(code) + 1)
        is_pub = bool(re.search(r'\bpub\s*(\([^)]*\))?\s*$', code[max(0, m.start() - 40):m.start()]))
        for segs, name in parse_use_tree(code[m.end():end]):
            if name == '*':
                globs.append((segs, where(m.start()), is_pub))
            else:
                uses.append((segs, where(m.start())))
                binds.setdefault(name, (segs, where(m.start())[1]))
        kept += [code[i:m.start()], blank(code[m.start():end])]
        i = end
    return binds, uses, globs, ''.join(kept) + code[i:]

class Module:
    """One file's facts: top-level definitions, use bindings and globs, inline paths, words."""

    def __init__(self, path, src):
        self.path = path
        code, self.test_mods = strip_tests(strip_code(src))
        newlines = [m.start() for m in re.finditer(r'\n', code)]
        spans = [(m.end(), item_end(code, m.start())) for m in re.finditer(r'\bmod\s+\w+\s*\{', code)]
        where = lambda p: (bisect.bisect_left(newlines, p) + 1, sum(a <= p < b for a, b in spans))
        opens, closes = ([m.start() for m in re.finditer(b, code)] for b in (r'\{', r'\}'))
        top_level = lambda p: bisect.bisect(opens, p) == bisect.bisect(closes, p)
        self.defs = {m.group(m.lastindex) for m in DEF.finditer(code) if top_level(m.start())}
        self.exported_macros = set(re.findall(r'#\s*\[\s*macro_export\b[^\]]*\](?:\s*#\s*\[[^\]]*\])*\s*macro_rules!\s*(\w+)', code))
        self.binds, self.uses, self.globs, code = read_uses(code, where)  # the paths left are inline ones
        self.paths = [([m.group(1)] + re.findall(r'\w+', m.group(2)), where(m.start())) for m in PATH.finditer(code)]
        self.words = set(re.findall(r'[A-Za-z_]\w*', code))

EMPTY = Module(None, '')

def child(mod, seg):
    return seg if mod == 'crate' else f'{mod}::{seg}'

def parent(mod):
    return mod.rsplit('::', 1)[0] if '::' in mod else 'crate'

def module_files(src):
    """(module name, path) of each `.rs` file of the library (or of the binary if no lib.rs)."""
    for path in sorted(src.rglob('*.rs')):
        parts = list(path.relative_to(src).with_suffix('').parts)
        if parts[0] == 'bin' or (parts == ['main'] and (src / 'lib.rs').exists()):
            continue
        parts = parts[:-1] if parts[-1] == 'mod' or parts in (['lib'], ['main']) else parts
        yield '::'.join(parts) or 'crate', path

class Crate:
    """The modules of one crate's `src`, and the resolution of paths between them."""

    def __init__(self, src):
        self.warnings, self.memo, self.active, self.cyclic, self.exports = [], {}, set(), False, {}
        self.mods = {name: Module(path, path.read_text(encoding='utf-8', errors='replace'))
                     for name, path in module_files(src)}
        dropped = {child(m, t) for m, info in self.mods.items() for t in info.test_mods}
        self.mods = {n: i for n, i in self.mods.items() if not any(n == d or n.startswith(d + '::') for d in dropped)}
        self.children, self.macros = {}, {m: n for n, i in self.mods.items() for m in i.exported_macros}
        for name in self.mods:
            self.children.setdefault(parent(name), set()).add(name.rsplit('::', 1)[-1])

    def info(self, mod):
        """The module's facts; an empty module for a directory with no `mod.rs` (`#[path]` tricks)."""
        return self.mods.get(mod) or EMPTY

    def anchor(self, mod, segs, inline):
        """Where a path written in `mod` starts: (module, rest), EXT, SAME, or None (above crate)."""
        first, info = segs[0], self.info(mod)
        if first in ('crate', '$crate'):
            return 'crate', segs[1:]
        if first in ('self', 'super'):
            while segs and segs[0] in ('self', 'super'):
                if segs[0] == 'super' and inline:
                    inline -= 1
                elif segs[0] == 'super':
                    if mod == 'crate':
                        return None
                    mod = parent(mod)
                segs = segs[1:]
            return SAME if inline else (mod, segs)
        if inline:  # a relative path inside an inline `mod x { }` stays in this file (or leaves the crate)
            return SAME
        bound = first in info.binds and info.binds[first][0][0] != first
        return (mod, segs) if child(mod, first) in self.mods or first in info.defs or bound else EXT

    def lookup(self, mod, seg):
        """What `seg` names in `mod`: ('item'|'mod'|'unres', module) or (EXT, None). Memoised."""
        info, key = self.info(mod), (mod, seg)
        if child(mod, seg) in self.mods:
            return 'mod', child(mod, seg)
        if seg in info.defs:
            return 'item', mod
        if key in self.memo:
            return self.memo[key]
        if key in self.active:  # a loop of imports: not found along this way, and do not memoise
            self.cyclic = True
            return 'unres', mod
        self.active.add(key)
        outer, self.cyclic, found = self.cyclic, False, ('unres', mod)
        if seg in info.binds:
            found = self.follow(mod, *info.binds[seg])
        else:  # the first glob import that provides the name
            for gsegs, (_, inline), _ in info.globs:
                target = self.follow(mod, gsegs, inline)
                provides = target[0] == 'mod' and seg in self.exported(target[1])
                through = self.lookup(target[1], seg) if provides else ('unres',)
                if through[0] != 'unres':
                    found = through
                    break
        if found[0] == 'unres' and mod == 'crate' and seg in self.macros:  # #[macro_export] macro
            found = ('item', self.macros[seg])
        self.active.discard(key)
        if found[0] != 'unres' or not self.cyclic:  # a name found is found whatever the loop
            self.memo[key] = found
        self.cyclic |= outer
        return found

    def resolve(self, mod, segs):
        """Resolve `segs` from module `mod`, name by name, to what `lookup` returns."""
        for seg in segs:
            kind, target = self.lookup(mod, seg)
            if kind != 'mod':
                return kind, target
            mod = target
        return 'mod', mod

    def follow(self, mod, segs, inline, rest=()):
        """Anchor a path written in `mod`, then resolve it with `rest` appended."""
        start = self.anchor(mod, segs, inline)
        if start in (EXT, SAME, None):
            return {EXT: (EXT, None), SAME: ('item', mod), None: ('unres', mod)}[start]
        return self.resolve(start[0], list(start[1]) + list(rest))

    def exported(self, mod):
        """Every name a glob import of `mod` brings in, through its own globs (privacy not checked)."""
        if mod not in self.exports:
            self.exports[mod] = names = set()  # filled below; empty while being computed
            todo, done = [mod], set()
            while todo:
                m = todo.pop()
                if m not in done:
                    done.add(m)
                    info = self.info(m)
                    names |= set(info.defs) | set(info.binds) | self.children.get(m, set())
                    todo += [t[1] for g, (_, k), _ in info.globs if (t := self.follow(m, g, k))[0] == 'mod']
            names.discard('_')
        return self.exports[mod]

    def references(self, name):
        """(segments, (line, inline depth), rest) for each reference module `name` makes."""
        info = self.mods[name]
        refs = [(segs, where, []) for segs, where in info.uses + info.paths]
        for gsegs, where, is_pub in info.globs:  # a glob refers to the names this file uses
            target = self.follow(name, gsegs, where[1], [])
            if target[0] != 'mod':  # an enum's variants, or unresolved: one reference
                refs.append((gsegs, where, []))
                continue
            names = self.exported(target[1])
            names = names if is_pub else names & (info.words - info.defs - set(info.binds))
            refs += [(gsegs, where, [n]) for n in sorted(names)]
        return refs

    def edges(self):
        """{(a, b): (path, line)}: module dependencies, with the first reference found for each."""
        edges = {}
        for name, info in self.mods.items():
            for segs, (line, inline), rest in self.references(name):
                kind, target = self.follow(name, segs, inline, rest)
                if kind == 'unres':
                    self.warnings.append(f'{os.path.relpath(info.path)}:{line}: cannot resolve '
                                         f'{"::".join(segs + rest)}; counted as a reference to {target}')
                if kind in ('item', 'unres') and target != name:
                    edges.setdefault((name, target), (info.path, line))
        return edges

def find_cycles(nodes, edges):
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    graph = {n: sorted(b for a, b in edges if a == n) for n in set(nodes) | {b for _, b in edges}}
    index, low, stack, cycles = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(1000, 4 * len(graph) + 100))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)

def report(crate_dir, show_graph):
    """Print one crate's graph (optionally), cycles and summary; return the number of cycles."""
    crate = Crate(crate_dir / 'src')
    edges = crate.edges()
    for warning in crate.warnings:
        print(f'warning: {warning}', file=sys.stderr)
    if show_graph:
        print(f'# crate {crate_dir.name}')
        print(''.join(f'{a} -> {b}\n' for a, b in sorted(edges)), end='')
    cycles = find_cycles(crate.mods, edges)
    for k, comp in enumerate(cycles, 1):
        print(f'cycle {k} in {crate_dir.name}: {", ".join(comp)}')
        for (a, b), (path, line) in sorted(edges.items()):
            if a in comp and b in comp:
                print(f'  {a} -> {b}    {os.path.relpath(path)}:{line}')
    print(f'crate {crate_dir.name}: {len(crate.mods)} modules, {len(edges)} edges, {len(cycles)} cycles')
    return len(cycles)

SELF_TESTS = [  # (what, {file under src: text}, edges that must exist, edges that must not, cycles, warnings)
    ('re-exporting parent', {'lib.rs': 'pub mod p;', 'p/a.rs': 'pub struct Item;\nfn f() { let _ = crate::p::Other; }',
                             'p/mod.rs': 'mod a;\nmod b;\npub use a::Item;\npub(crate) use self::b::{Other, More};',
                             'p/b.rs': 'pub struct Other;\npub fn More() {}'},
     [('p', 'p::a'), ('p', 'p::b'), ('p::a', 'p::b')], [('p::a', 'p'), ('p::b', 'p')], 0, 0),
    ('sibling cycle', {'lib.rs': 'mod a;\nmod b;', 'a.rs': 'use crate::b::B;\npub struct A;',
                       'b.rs': 'pub struct B;\nfn f() -> crate::a::A { todo!() }'}, [('a', 'b'), ('b', 'a')], [], 1, 0),
    ('cycle only in test code', {'lib.rs': 'mod a;\nmod b;', 'b.rs': 'pub struct B;\nuse crate::a::A;',
                                 'a.rs': 'pub struct A;\n#[cfg(test)]\nuse crate::b::B;\n#[cfg(test)]\nfn t() {\n'
                                         '    super::b::B;\n}\nmod tests {\n    use super::super::b::*;\n}\n'
                                         '#[cfg(test)]\nmod more;', 'a/more.rs': 'use crate::b::B;'},
     [('b', 'a')], [('a', 'b'), ('a::more', 'b')], 0, 0),
    ('strings and comments', {'lib.rs': 'mod a;\nmod b;', 'b.rs': 'pub struct B;',
                              'a.rs': '//! crate::b::B\n/// use crate::b::B;\n/* crate::b::B /* x */ crate::b::B */\n'
                                      'const Q: char = \'"\';\nfn f<\'a>(x: &\'a str) -> &\'static str { "crate::b::B" }\n'
                                      'fn g() -> &\'static str { r#"use crate::b::B;"# }'}, [], [('a', 'b')], 0, 0),
    ('grouped multi-line use', {'lib.rs': 'mod a;\nmod b;\nmod c;', 'b.rs': 'pub struct B;\npub fn g() {}',
                                'c.rs': 'pub struct C;\npub fn d() {}',
                                'a.rs': 'use crate::{\n    b::{self, B as Bee},\n    c::{\n        C,\n    },\n};\n'
                                        'fn f() { b::g(); }'}, [('a', 'b'), ('a', 'c')], [], 0, 0),
    ('glob re-export', {'lib.rs': 'pub mod m;\npub use m::*;\nmod user;', 'm/mod.rs': 'mod inner;\npub use inner::*;',
                        'm/inner.rs': 'pub struct Thing;', 'user.rs': 'use crate::Thing;'},
     [('user', 'm::inner')], [('user', 'm'), ('user', 'crate')], 0, 0),
    ('item defined in parent', {'lib.rs': 'mod p;', 'p/mod.rs': 'mod t;\npub struct Ctx;\npub use t::Table;',
                                'p/t.rs': 'pub struct Table;\nfn f(_: super::Ctx) {}'}, [('p::t', 'p'), ('p', 'p::t')], [], 1, 0),
    ('inline and outside paths', {'lib.rs': 'mod a;\nmod b;\npub use b::*;', 'b.rs': 'pub enum E { Other(u8) }',
                                  'a.rs': 'use std::fmt;\nfn f() { let _ = crate::b::E::Other(1); fmt::x(); serde::y(); }\n'
                                          'pub mod n { pub const Y: u8 = super::m::Z; }\nmod m { pub const Z: u8 = 1; }'},
     [('a', 'b')], [('a', 'crate'), ('b', 'a')], 0, 0),
    ('exported macro', {'lib.rs': 'mod a;\nmod b;', 'a.rs': '#[macro_export]\nmacro_rules! m { () => {} }',
                        'b.rs': 'fn f() { crate::m!(); }'}, [('b', 'a')], [('b', 'crate')], 0, 0),
    ('unresolved path warns', {'lib.rs': 'mod a;', 'a.rs': 'fn f() { crate::missing::g(); }'}, [('a', 'crate')], [], 0, 1),
]

def self_test():
    """Run SELF_TESTS on synthetic crates in a temp dir; return the exit status."""
    passed = failed = 0
    for what, files, present, absent, n_cycles, n_warnings in SELF_TESTS:
        with tempfile.TemporaryDirectory() as tmp:
            for rel, text in files.items():
                (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / rel).write_text(text + '\n')
            crate = Crate(Path(tmp))
            edges = crate.edges()
        checks = [(f'edge {a} -> {b}', (a, b) in edges) for a, b in present]
        checks += [(f'no edge {a} -> {b}', (a, b) not in edges) for a, b in absent]
        checks += [(f'{n_cycles} cycles', len(find_cycles(crate.mods, edges)) == n_cycles),
                   (f'{n_warnings} warnings', len(crate.warnings) == n_warnings)]
        for check, ok in checks:
            passed, failed = passed + ok, failed + (not ok)
            if not ok:
                print(f'FAIL {what}: {check}; edges: {sorted(edges)}; warnings: {crate.warnings}')
    print(f'self-test: {passed} passed, {failed} failed')
    return 1 if failed else 0

def main(argv):
    if '--self-test' in argv:
        return self_test()
    unknown = [a for a in argv if a.startswith('-') and a != '--graph']
    if unknown:
        print(f'module-cycles: unknown option {unknown[0]}\n{__doc__.split("Usage:")[1]}', file=sys.stderr)
        return 2
    root = Path.cwd() if (Path.cwd() / 'crates').is_dir() else Path(__file__).resolve().parents[1]
    dirs = [Path(a) for a in argv if a != '--graph'] or sorted(p.parent for p in root.glob('crates/*/src'))
    dirs = [d.parent if d.name == 'src' else d for d in dirs]
    missing = [str(d) for d in dirs if not (d / 'src').is_dir()]
    if missing:
        print(f'module-cycles: no src directory in {", ".join(missing)}', file=sys.stderr)
        return 2
    return 1 if sum(report(d, '--graph' in argv) for d in dirs) else 0

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
