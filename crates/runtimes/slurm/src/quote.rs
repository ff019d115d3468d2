//! POSIX shell quoting: the one place where user-supplied strings become
//! shell words (batch scripts, ssh command lines).
//!
//! Every word is wrapped in single quotes, inside which a POSIX shell
//! interprets nothing; a single quote itself is written as `'\''`. NUL
//! cannot be carried by any shell word and is refused by the callers
//! ([`check_no_nul`]).

/// Quote `s` as one shell word. Words made only of characters no shell treats
/// specially stay readable (`--mem=4G`, `/a/b`), everything else is quoted.
pub fn sh_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'_' | b'-' | b'.' | b'/' | b':' | b'=' | b'@' | b',' | b'+' | b'%')
        });
    if plain {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quote each word and join them with spaces: a command line a POSIX shell
/// splits back into exactly `words`.
pub fn sh_join<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| sh_quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

/// Like [`sh_quote`], for words inside a batch script: `sbatch` refuses a
/// script containing a carriage return before a newline (it takes it for
/// DOS line breaks), so each CR is written as `"$ferry_cr"` (defined by
/// [`SCRIPT_PRELUDE`]) between quoted pieces; the shell joins them into one word.
pub fn script_quote(s: &str) -> String {
    if !s.contains('\r') {
        return sh_quote(s);
    }
    s.split('\r').map(sh_quote).collect::<Vec<_>>().join("\"$ferry_cr\"")
}

/// `script_quote` for each word, joined with spaces.
pub fn script_join<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| script_quote(w.as_ref())).collect::<Vec<_>>().join(" ")
}

/// Defines `$ferry_cr` for [`script_quote`]d words.
pub const SCRIPT_PRELUDE: &str = "ferry_cr=$(printf '\\r')\n";

/// `Err(field)` when `value` holds a NUL byte (no shell word can carry one).
pub fn check_no_nul(field: &str, value: &str) -> Result<(), String> {
    if value.contains('\0') {
        Err(format!("{field}: contains a NUL character, which cannot be passed to a Slurm job"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Let /bin/sh split the quoted line and print each word NUL-terminated.
    fn shell_split(line: &str) -> Vec<String> {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("for a in {line}; do printf '%s\\0' \"$a\"; done"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_terminator('\0').map(str::to_owned).collect()
    }

    #[test]
    fn plain_words_stay_plain_and_others_are_quoted() {
        assert_eq!(sh_quote("--mem=4096M"), "--mem=4096M");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_join(&["echo", "$(id)"]), "echo '$(id)'");
        assert!(check_no_nul("env.X", "a\0b").unwrap_err().contains("env.X"));
    }

    #[test]
    fn hostile_words_survive_the_shell() {
        let words = [
            "$(touch /tmp/ferry-pwned)",
            "`id`",
            "a'b\"c",
            "line1\nline2",
            "back\\slash",
            "*",
            "~",
            "ünï©ødé",
            " ",
            "-n",
            "$HOME",
            "!x",
            "a;b|c&d",
            "#x",
        ];
        assert_eq!(shell_split(&sh_join(&words)), words);
    }

    #[test]
    fn carriage_returns_become_a_variable() {
        let q = script_quote("a\r\nb");
        assert!(!q.contains('\r'), "{q}");
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{SCRIPT_PRELUDE}printf '%s' {q}"))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"a\r\nb");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn any_string_round_trips(words in proptest::collection::vec("[^\u{0}]{0,12}", 1..5)) {
            prop_assert_eq!(shell_split(&sh_join(&words)), words);
        }
    }
}
