//! The generator rules the golden vectors use to describe long inputs instead of spelling them
//! out, e.g. `'a' repeated 127 times` or `20000 bytes, byte i = (i*7) & 0xff`.

/// The string a `gen` rule describes, or `None` for a rule this module does not know.
///
/// Known rules: `'<c>' repeated <n> times`, `U+<hex> (<any name>) repeated <n> times`, and
/// `<n> chars: char i = '<c>' + (i % <m>), i = 0..<n-1>`.
pub fn string(rule: &str) -> Option<String> {
    if let Some((unit, count)) = repeated(rule) {
        let c = if let Some(quoted) = unit.strip_prefix('\'').and_then(|u| u.strip_suffix('\'')) {
            single_char(quoted)?
        } else {
            let hex = unit.strip_prefix("U+")?.split_whitespace().next()?;
            char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
        };
        return Some(std::iter::repeat_n(c, count).collect());
    }
    // "<n> chars: char i = 'a' + (i % 26), i = 0..999"
    let (count, formula) = rule.split_once(" chars: char i = ")?;
    let count: usize = count.trim().parse().ok()?;
    let (base, rest) = formula.split_once(" + (i % ")?;
    let base = single_char(base.trim().strip_prefix('\'')?.strip_suffix('\'')?)? as u32;
    let modulus: u32 = rest.split_once(')')?.0.trim().parse().ok()?;
    if modulus == 0 {
        return None;
    }
    (0..count as u32).map(|i| char::from_u32(base + i % modulus)).collect()
}

/// The bytes a `gen` rule describes: `<n> bytes, byte i = (i*<m>) & 0xff`.
pub fn bytes(rule: &str) -> Option<Vec<u8>> {
    let (count, formula) = rule.split_once(" bytes, byte i = (i*")?;
    let count: usize = count.trim().parse().ok()?;
    let factor: usize = formula.strip_suffix(") & 0xff")?.trim().parse().ok()?;
    Some((0..count).map(|i| (i.wrapping_mul(factor) & 0xff) as u8).collect())
}

/// `<unit> repeated <n> times`
fn repeated(rule: &str) -> Option<(&str, usize)> {
    let (unit, count) = rule.strip_suffix(" times")?.rsplit_once(" repeated ")?;
    Some((unit.trim(), count.trim().parse().ok()?))
}

fn single_char(text: &str) -> Option<char> {
    let mut chars = text.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_rules() {
        assert_eq!(string("'a' repeated 3 times").unwrap(), "aaa");
        assert_eq!(string("U+D55C (Hangul HAN) repeated 2 times").unwrap(), "한한");
        let cycle = string("1000 chars: char i = 'a' + (i % 26), i = 0..999").unwrap();
        assert_eq!(cycle.len(), 1000);
        assert!(cycle.starts_with("abcdefghijklmnopqrstuvwxyza"));
        assert_eq!(bytes("4 bytes, byte i = (i*7) & 0xff").unwrap(), [0, 7, 14, 21]);
        assert_eq!(string("something else"), None);
    }
}
