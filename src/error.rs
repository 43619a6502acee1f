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
    for link in explained_links(err) {
        match link.class() {
            Class::Interrupted(signal) => return Class::Interrupted(signal),
            Class::Usage => class = Class::Usage,
            Class::Failure => {}
        }
    }
    class
}

/// Every link of the chain that explains itself. A `Problem` attached with anyhow's
/// `.context(…)` is not a link `explain` can downcast (the link is anyhow's own context
/// wrapper), but anyhow finds it by type on the error itself: it comes first, so its hint,
/// resource and class are not lost.
fn explained_links(err: &anyhow::Error) -> Vec<&dyn Explain> {
    let mut links: Vec<&dyn Explain> = Vec::new();
    let context = err.downcast_ref::<Problem>();
    let in_chain = |p: &Problem| {
        err.chain().any(|c| {
            c.downcast_ref::<Problem>()
                .is_some_and(|q| std::ptr::eq(p, q))
        })
    };
    if let Some(p) = context.filter(|p| !in_chain(p)) {
        links.push(p);
    }
    links.extend(err.chain().filter_map(explain));
    links
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

/// What a chain says, each link asked once: the text `error:` and `--output json` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Told {
    /// The causes, outermost first, joined with `: `; URL credentials redacted.
    pub(crate) message: String,
    /// The next steps of every link, in order, each once; URL credentials redacted.
    pub(crate) hints: Vec<String>,
    /// The first file position or AWS resource a link names.
    pub(crate) resource: Option<String>,
}

pub(crate) fn tell(err: &anyhow::Error) -> Told {
    let mut message = String::new();
    let mut hints: Vec<String> = Vec::new();
    for h in explained_links(err).iter().filter_map(|e| e.hint()) {
        if !hints.contains(&h) {
            hints.push(h);
        }
    }
    for cause in err.chain() {
        // A layer that already printed its source (`{source}` in its message) makes the
        // source's own text a repeat: keep it once.
        let text = cause.to_string();
        if text.trim().is_empty() || message.contains(text.trim()) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    // The one report of an error, text and JSON: no URL credentials in either.
    let redact = |s: &str| crate::text::redact_credentials(s).into_owned();
    Told {
        message: redact(&message),
        hints: hints.iter().map(|h| redact(h)).collect(),
        resource: explained_links(err).iter().find_map(|e| e.resource()),
    }
}

impl fmt::Display for Told {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote AWS and handlers: shown, not obeyed, on a terminal.
        let text = with_hints(&self.message, &self.hints);
        f.write_str(&crate::text::visible(&text, crate::text::Lines::Keep))
    }
}

/// An error as the user reads it: message, then its hints (for tests and lists of errors).
pub fn render(err: impl Into<anyhow::Error>) -> String {
    tell(&err.into()).to_string()
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
    fn a_problem_attached_as_context_keeps_its_hint_resource_and_class() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such bucket");
        let err = anyhow::Error::new(io).context(
            Problem::usage("uploading code to eu-west-1")
                .hint("create the bucket")
                .resource("s3://b"),
        );
        let told = tell(&err);
        assert_eq!(told.message, "uploading code to eu-west-1: no such bucket");
        assert_eq!(told.hints, ["create the bucket"]);
        assert_eq!(told.resource.as_deref(), Some("s3://b"));
        assert_eq!(class_of(&err), Class::Usage);
        // A Problem that is a link of its own is told once, not twice.
        let plain = anyhow::Error::new(Problem::failure("x").hint("h"));
        assert_eq!(tell(&plain).hints, ["h"]);
    }

    /// A module error as the wrapper carries it: class, hint, resource and a source of its own.
    #[derive(Debug)]
    struct Located {
        usage: bool,
        source: std::io::Error,
    }

    impl fmt::Display for Located {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "reading c.yaml: {}", self.source)
        }
    }

    impl Explain for Located {
        fn class(&self) -> Class {
            if self.usage {
                Class::Usage
            } else {
                Class::Failure
            }
        }
        fn hint(&self) -> Option<String> {
            Some("pass --config PATH".into())
        }
        fn resource(&self) -> Option<String> {
            Some("c.yaml:3:5".into())
        }
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    crate::explained!(Located);

    fn located(usage: bool) -> Located {
        Located {
            usage,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        }
    }

    #[test]
    fn a_wired_error_keeps_class_hint_and_resource_under_context() {
        let err = anyhow::Error::from(located(true))
            .context("loading the project")
            .context("running plan");
        assert_eq!(class_of(&err), Class::Usage);
        let told = tell(&err);
        assert_eq!(told.hints, ["pass --config PATH"]);
        assert_eq!(told.resource.as_deref(), Some("c.yaml:3:5"));
        // Its source is the next link, and is not repeated after the message that shows it.
        assert_eq!(err.chain().count(), 4);
        assert_eq!(err.chain().last().unwrap().to_string(), "gone");
        assert_eq!(
            told.message,
            "running plan: loading the project: reading c.yaml: gone"
        );
        // `?` takes the same way in.
        fn load() -> anyhow::Result<()> {
            Err(located(false))?
        }
        let err = load().unwrap_err();
        assert!(explain(err.as_ref()).is_some_and(|e| e.resource().is_some()));
        assert_eq!(class_of(&err), Class::Failure);
    }

    #[test]
    fn an_interruption_beats_a_usage_error_wherever_it_is() {
        let inner_usage =
            anyhow::Error::new(Problem::interrupted("stopped").because(located(true)));
        assert!(class_of(&inner_usage).is_interrupted());
        let outer_usage = anyhow::Error::from(located(true)).context("x");
        let outer_usage = anyhow::Error::new(Problem::usage("bad").because(outer_usage));
        assert_eq!(class_of(&outer_usage), Class::Usage);
        let wrapped = anyhow::Error::new(
            Problem::usage("outer").because(Problem::interrupted("stopped while waiting")),
        );
        assert_eq!(class_of(&wrapped), Class::Interrupted(Signal::Interrupt));
    }

    #[test]
    fn a_plain_error_is_no_link_of_ours() {
        let io = std::io::Error::other("disk");
        assert!(explain(&io).is_none());
        let err = anyhow::Error::new(io).context("writing");
        assert_eq!(tell(&err).hints, Vec::<String>::new());
        assert_eq!(class_of(&err), Class::Failure);
    }

    #[test]
    fn a_problem_keeps_its_hint_out_of_its_message() {
        let p = Problem::failure("stack s failed").hint("look at the events");
        assert_eq!(p.to_string(), "stack s failed");
        assert_eq!(Explain::hint(&p).as_deref(), Some("look at the events"));
    }
}
