//! Paths Windows would not treat as plain files, refused by their text before any lookup:
//! UNC paths (`\\host\share`: opening one makes the sentry dial out over SMB and offer its
//! account's credentials), device and NT paths (`\\.\`, `\\?\`, `\??\`), reserved device
//! names in any component (`CON`, `PRN`, `AUX`, `NUL`, `COM0`-`COM9`, `LPT0`-`LPT9`, `CONIN$`,
//! `CONOUT$`, also with an extension or trailing dots and spaces: `nul.txt`, `COM1 .log`), and
//! components Win32 would rewrite or read as wildcards or streams (a trailing dot or space,
//! `<>:"|?*`, control characters).
//!
//! Pure text, so it is tested on every platform; the sentry applies it on Windows only.

/// Why Windows would not treat `path` as a plain file path; `None` if it would.
pub fn windows_path_problem(path: &str) -> Option<String> {
    let separators = |c: char| c == '\\' || c == '/';
    let mut chars = path.chars();
    if let (Some(first), Some(second)) = (chars.next(), chars.next())
        && separators(first)
        && separators(second)
    {
        return Some(match chars.next() {
            Some('?' | '.') => "a device path".to_owned(),
            _ => "a UNC path".to_owned(),
        });
    }
    if path.starts_with(r"\??\") || path.starts_with("/??/") {
        return Some("an NT object path".to_owned());
    }
    let mut components = path.split(separators).peekable();
    // A drive (`C:`) may open the path; nowhere else may a colon appear.
    if components.peek().is_some_and(|first| is_drive(first)) {
        components.next();
    }
    components.filter(|c| !c.is_empty() && *c != "." && *c != "..").find_map(component_problem)
}

fn is_drive(component: &str) -> bool {
    let bytes = component.as_bytes();
    bytes.len() == 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// Why Windows would not treat `component` as a plain name.
fn component_problem(component: &str) -> Option<String> {
    if let Some(bad) = component.chars().find(|&c| c.is_control() || "<>:\"|?*".contains(c)) {
        return Some(format!("{component:?} holds {bad:?}, which Windows does not allow in a name"));
    }
    let stem = component.split('.').next().unwrap_or(component).trim_end_matches(' ');
    if is_reserved_device(stem) {
        return Some(format!("{component:?} is a reserved device name"));
    }
    component
        .ends_with(['.', ' '])
        .then(|| format!("{component:?} ends with a dot or a space, which Windows drops"))
}

/// `CON`, `PRN`, `AUX`, `NUL`, `CONIN$`, `CONOUT$`, `COM` or `LPT` with a digit (or the
/// superscripts ¹²³ Windows also reserves), in any case.
fn is_reserved_device(stem: &str) -> bool {
    let upper = stem.to_uppercase();
    if matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$") {
        return true;
    }
    let Some(number) = upper.strip_prefix("COM").or_else(|| upper.strip_prefix("LPT")) else {
        return false;
    };
    let mut digits = number.chars();
    matches!((digits.next(), digits.next()), (Some('0'..='9' | '¹' | '²' | '³'), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_device_names_are_refused_in_every_form() {
        for path in [
            r"C:\srv\CON",
            r"C:\srv\con",
            r"C:\srv\nul.txt",
            r"C:\srv\Aux.tar.gz",
            r"C:\srv\COM1",
            r"C:\srv\com9.log",
            r"C:\srv\LPT1",
            r"C:\srv\lpt5.txt",
            r"C:\srv\COM¹",
            r"C:\srv\CONIN$",
            r"C:\srv\NUL \x",
            r"C:\srv\COM1 .log",
            r"C:\srv\CON.",
            r"C:\srv\com1 ",
            r"C:\srv\PRN\logs",
            "C:/srv/prn",
        ] {
            let problem = windows_path_problem(path).unwrap_or_else(|| panic!("{path} was accepted"));
            assert!(problem.contains("reserved device name"), "{path}: {problem}");
        }
    }

    #[test]
    fn trailing_dots_and_spaces_and_odd_characters_are_refused() {
        for (path, expected) in [
            (r"C:\srv\logs ", "dot or a space"),
            (r"C:\srv\logs.\x", "dot or a space"),
            (r"C:\srv\...", "dot or a space"),
            (r"C:\srv\file.txt:secret", "':'"),
            (r"C:\srv\*", "'*'"),
            (r"C:\srv\a?b", "'?'"),
            ("C:\\srv\\a\u{1}b", "'\\u{1}'"),
            (r"C:srv", "':'"),
        ] {
            let problem = windows_path_problem(path).unwrap_or_else(|| panic!("{path} was accepted"));
            assert!(problem.contains(expected), "{path}: {problem}");
        }
    }

    #[test]
    fn unc_and_device_paths_are_refused() {
        for (path, expected) in [
            (r"\\host\share", "a UNC path"),
            (r"\\host\share\srv", "a UNC path"),
            ("//host/share", "a UNC path"),
            (r"\/host\share", "a UNC path"),
            (r"\\?\C:\srv", "a device path"),
            (r"\\.\COM1", "a device path"),
            (r"\\?\UNC\host\share", "a device path"),
            (r"\\.\PhysicalDrive0", "a device path"),
            (r"\??\C:\srv", "an NT object path"),
        ] {
            assert_eq!(windows_path_problem(path).as_deref(), Some(expected), "{path}");
        }
    }

    #[test]
    fn ordinary_paths_pass() {
        for path in [
            r"C:\srv\logs",
            r"C:\",
            r"c:\srv\..\srv\.\x",
            r"C:\srv\console",
            r"C:\srv\COM10",
            r"C:\srv\com",
            r"C:\srv\LPT",
            r"C:\srv\nully.txt",
            r"C:\srv\CONFIG.SYS",
            r"C:\srv\.hidden",
            r"C:\srv\a b\c",
            "/srv/logs",
        ] {
            assert_eq!(windows_path_problem(path), None, "{path}");
        }
    }
}
