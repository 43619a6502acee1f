//! One error model. Every error of this tool answers the same questions through [`Explain`]:
//! what failed (its `Display`, without hints), which resource or file position it is about,
//! what to do next, and which exit-code [`Class`] it belongs to. `exit` and the failure report
//! ask these questions of each link of an error chain; no message carries its hint as text.
//!
//! Module error enums (config and templates, bundle, invoke, AWS, the lock) implement
//! [`Explain`] and enter an `anyhow` chain only inside [`Explained`], through the
//! `From<TheirType> for anyhow::Error` that [`explained!`](crate::explained) writes for them.
//! They do not implement `std::error::Error`, so anyhow's own conversion does not apply: an
//! error whose type is not wired does not compile (`?` finds no `From`), rather than losing its
//! hint and exit code. This module therefore lists no error types and imports nothing above it.
//! One-off failures use [`Problem`], built with a message and, where there is one, a hint;
//! `Problem::interrupted` is the one error for a run stopped by a signal.

use std::fmt;

use crate::signal::Signal;

/// Which exit code an error leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// A problem in what the user gave (arguments, config, templates, this machine's setup),
    /// found before anything changed: exit 2.
    Usage,
    /// Anything else that went wrong: exit 1.
    Failure,
    /// A signal stopped the work: exit 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP.
    Interrupted(Signal),
}

impl Class {
    pub(crate) fn is_interrupted(self) -> bool {
        matches!(self, Class::Interrupted(_))
    }
}

/// The questions the report and the exit code ask of an error. Implemented by a type that
/// [`explained!`](crate::explained) wired into anyhow (that is what [`Wired`] asks for).
pub(crate) trait Explain: fmt::Display + fmt::Debug + Send + Sync + Wired + 'static {
    fn class(&self) -> Class {
        Class::Failure
    }
    /// The next step, without a `hint:` prefix.
    fn hint(&self) -> Option<String> {
        None
    }
    /// The AWS resource or `file:line:column` the error is about, when one is known.
    fn resource(&self) -> Option<String> {
        None
    }
    /// The error this one wraps: the next link of the chain (`std::error::Error::source`).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        None
    }
}

/// Written only by [`explained!`](crate::explained), together with the type's conversion into
/// anyhow: an `impl Explain` without that conversion does not compile.
#[doc(hidden)]
pub(crate) trait Wired {}

/// An [`Explain`] error as a link of an anyhow chain: what [`explain`] finds there.
pub(crate) struct Explained(Box<dyn Explain>);

impl Explained {
    pub(crate) fn new(error: impl Explain) -> Explained {
        Explained(Box::new(error))
    }
}

impl fmt::Display for Explained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Explained {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl std::error::Error for Explained {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// `impl From<T> for anyhow::Error` (through [`Explained`]) and [`Wired`], for each module
/// error type `T` that implements [`Explain`]. `T` must not implement `std::error::Error`:
/// anyhow's blanket conversion would clash with this one.
#[macro_export]
macro_rules! explained {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::error::Wired for $t {}
        impl ::core::convert::From<$t> for ::anyhow::Error {
            fn from(error: $t) -> ::anyhow::Error {
                ::anyhow::Error::new($crate::error::Explained::new(error))
            }
        }
    )+};
}

/// The link of a chain as [`Explain`], if it is one of this crate's errors: a [`Problem`], or
/// any module error, which sits in the chain as an [`Explained`].
pub(crate) fn explain<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Explain> {
    if let Some(p) = cause.downcast_ref::<Problem>() {
        return Some(p);
    }
    cause.downcast_ref::<Explained>().map(|e| e.0.as_ref())
}

/// The class of the first link that has one other than `Failure` (an interruption or a usage
/// problem wrapped in context stays what it is), else `Failure`.
pub(crate) fn class_of(err: &anyhow::Error) -> Class {
    let mut class = Class::Failure;
    for cause in err.chain() {
        match explain(cause).map(Explain::class) {
            Some(Class::Interrupted(signal)) => return Class::Interrupted(signal),
            Some(Class::Usage) => class = Class::Usage,
            _ => {}
        }
    }
    class
}

/// A failure that is not worth an enum variant: a message, and optionally a hint, a resource,
/// the error that caused it, and a class other than `Failure`.
#[derive(Debug)]
pub struct Problem {
    message: String,
    hint: Option<String>,
    resource: Option<String>,
    class: Class,
    source: Option<anyhow::Error>,
}

impl Problem {
    /// Something went wrong (exit 1).
    pub(crate) fn failure(message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            hint: None,
            resource: None,
            class: Class::Failure,
            source: None,
        }
    }

    /// The user's input or setup is wrong; nothing was changed (exit 2).
    pub(crate) fn usage(message: impl Into<String>) -> Problem {
        Problem {
            class: Class::Usage,
            ..Problem::failure(message)
        }
    }

    /// A signal stopped the work (exit 130 for Ctrl-C): the one interruption error, carrying
    /// the signal that asked the run to stop (Ctrl-C when none did, e.g. in unit tests).
    pub(crate) fn interrupted(message: impl Into<String>) -> Problem {
        Problem {
            class: Class::Interrupted(crate::signal::signal()),
            ..Problem::failure(message)
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Problem {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn resource(mut self, resource: impl Into<String>) -> Problem {
        self.resource = Some(resource.into());
        self
    }

    /// The error this one explains: it follows in the chain (`.context` with a hint).
    pub fn because(mut self, source: impl Into<anyhow::Error>) -> Problem {
        self.source = Some(source.into());
        self
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e.as_ref() as _)
    }
}

/// A `Problem` sits in the chain as itself: it is a `std::error::Error`, and [`explain`]
/// looks for it by name.
impl Wired for Problem {}

impl Explain for Problem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(self)
    }
    fn class(&self) -> Class {
        self.class
    }
    fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
    fn resource(&self) -> Option<String> {
        self.resource.clone()
    }
}

/// `message` followed by each hint on its own indented `hint:` line: the one way hints are
/// written, for errors and for the notes of a report alike.
pub(crate) fn with_hints<S: AsRef<str>>(message: &str, hints: &[S]) -> String {
    let mut text = message.to_string();
    for hint in hints {
        text.push_str("\n  hint: ");
        text.push_str(hint.as_ref());
    }
    text
}

/// An error as the user reads it: message, then its hints (for tests and lists of errors).
pub fn render(err: impl Into<anyhow::Error>) -> String {
    crate::exit::Failure::render(&err.into())
}

/// `Err(Problem::failure(format!(...)).hint(format!(...)).into())`, shorter: the message
/// arguments, then `; hint = ...` with the hint's format arguments.
#[macro_export]
macro_rules! fail {
    ($($msg:expr),+ ; hint = $($hint:expr),+ $(,)?) => {
        return Err($crate::error::Problem::failure(format!($($msg),+))
            .hint(format!($($hint),+))
            .into())
    };
    ($($msg:expr),+ $(,)?) => {
        return Err($crate::error::Problem::failure(format!($($msg),+)).into())
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strongest_class_in_a_chain_wins() {
        let usage = anyhow::Error::new(Problem::usage("bad flag")).context("running build");
        assert_eq!(class_of(&usage), Class::Usage);
        let interrupted =
            anyhow::Error::new(Problem::interrupted("stopped")).context(Problem::usage("outer"));
        assert_eq!(
            class_of(&interrupted),
            Class::Interrupted(Signal::Interrupt)
        );
        assert_eq!(class_of(&anyhow::anyhow!("plain")), Class::Failure);
    }

    #[test]
    fn a_problem_keeps_its_hint_out_of_its_message() {
        let p = Problem::failure("stack s failed").hint("look at the events");
        assert_eq!(p.to_string(), "stack s failed");
        assert_eq!(Explain::hint(&p).as_deref(), Some("look at the events"));
    }
}
