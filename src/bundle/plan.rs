//! What a language's planner decides before anything is installed: what to install, and what
//! of that decides the inputs hash. Generic over how it installs, so that `node` and `python`
//! fill in their own installer without knowing the others (`installer.rs` joins them).

use std::path::PathBuf;

/// What the build will install (`installer`), and what of that decides the inputs hash.
pub(super) struct Plan<I> {
    pub(super) installer: I,
    /// The language's name in the inputs hash.
    pub(super) language: &'static str,
    /// Packages the runtime provides (normalized names), part of the inputs hash.
    pub(super) runtime_provided: Vec<String>,
    /// Files that are not bundled but change what gets installed, by name (e.g. `.npmrc`).
    pub(super) extra_inputs: Vec<(String, PathBuf)>,
    /// Requirements left out because the runtime provides them (for the manifest).
    pub(super) excluded: Vec<String>,
    /// Node: the packages package.json names in `dependencies` and `optionalDependencies`
    /// (what the function's own code may `require`), sorted.
    pub(super) direct_dependencies: Vec<String>,
}

impl<I> Plan<Option<I>> {
    /// Nothing to install (yet): the language's plan fills in the rest.
    pub(super) fn new(language: &'static str) -> Self {
        Plan {
            installer: None,
            language,
            runtime_provided: Vec::new(),
            extra_inputs: Vec::new(),
            excluded: Vec::new(),
            direct_dependencies: Vec::new(),
        }
    }
}

impl<I> Plan<I> {
    /// The same plan with its installer turned into another type.
    pub(super) fn map_installer<J>(self, f: impl FnOnce(I) -> J) -> Plan<J> {
        Plan {
            installer: f(self.installer),
            language: self.language,
            runtime_provided: self.runtime_provided,
            extra_inputs: self.extra_inputs,
            excluded: self.excluded,
            direct_dependencies: self.direct_dependencies,
        }
    }
}
