//! How the program ends: one line per error, quietly on a closed pipe (the hook for `println!`
//! is `lenet::atomic::end_quietly_when_stdout_closes`, shared with the other programs).

/// Whether `error` is standard output's reader having gone (`| head`).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An error and its causes in one line, `a: b: c`, each cause once: some errors (burn-train's
/// checkpointer's, for a full disk) repeat their source's text in their own message, which
/// `{:#}` would then print twice.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose message repeats its source's, as burn-train's checkpointer errors do.
    #[derive(Debug)]
    struct Repeats(std::io::Error);

    impl std::fmt::Display for Repeats {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "I/O Error: `{}`", self.0)
        }
    }

    impl std::error::Error for Repeats {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        let text = full.to_string();
        let error = anyhow::Error::new(Repeats(full)).context("training into runs/lenet");
        let line = one_line(&error);
        assert_eq!(line.matches(&text).count(), 1, "{line}");
        assert!(
            line.starts_with("training into runs/lenet: I/O Error"),
            "{line}"
        );
    }
}
