//! Sensitive path classes: the files whose change controls what runs or
//! what an agent is told, defined once.
//!
//! The built-in policies treat [`PathClass::STRICT`] paths like CI
//! configuration (a lower blocking threshold), the verification checks in
//! `verify/sensitive.rs` block opaque binary content and renames or copies
//! into any class, and the `pi.agent-instructions-file` rule's `paths` are
//! checked against [`PathClass::AgentInstructions`] by a test, so the lists
//! cannot drift apart.
//!
//! ```
//! use diffver_core::path_class::{PathClass, PathClasses};
//! let classes = PathClasses::new();
//! assert_eq!(classes.classify(b".github//workflows/ci.yml"), Some(PathClass::Workflow));
//! assert_eq!(classes.classify(b"GEMINI.md"), Some(PathClass::AgentInstructions));
//! assert_eq!(classes.classify(b"src/main.rs"), None);
//! ```

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// A class of sensitive paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum PathClass {
    /// CI configuration: GitHub Actions workflows and actions, and other CI
    /// systems' pipeline files.
    Workflow,
    /// Files that instruct or configure AI coding agents.
    AgentInstructions,
    /// Git hooks and hook managers' configuration.
    GitHook,
    /// Build scripts that run on a developer's or CI machine.
    BuildScript,
}

const WORKFLOW: &[&str] = &[
    ".github/workflows/**",
    "**/action.yml",
    "**/action.yaml",
    ".gitlab-ci.yml",
    ".gitlab/ci/**",
    ".circleci/**",
    "azure-pipelines.yml",
    ".azure-pipelines/**",
    "Jenkinsfile",
    "**/Jenkinsfile",
    ".travis.yml",
    ".buildkite/**",
    "bitbucket-pipelines.yml",
    ".drone.yml",
    ".woodpecker.yml",
    ".woodpecker/**",
];

const AGENT_INSTRUCTIONS: &[&str] = &[
    "AGENTS.md",
    "**/AGENTS.md",
    "AGENT.md",
    "**/AGENT.md",
    "CLAUDE.md",
    "**/CLAUDE.md",
    "CLAUDE.local.md",
    "**/CLAUDE.local.md",
    "GEMINI.md",
    "**/GEMINI.md",
    ".cursorrules",
    "**/.cursorrules",
    ".cursor/**",
    ".github/copilot-instructions.md",
    ".github/instructions/**",
    ".github/prompts/**",
    ".github/chatmodes/**",
    ".windsurfrules",
    ".windsurf/rules/**",
    ".clinerules",
    ".clinerules/**",
    ".roo/**",
    ".roorules",
    ".mcp.json",
    "**/.mcp.json",
    ".vscode/mcp.json",
    ".claude/**",
    ".gemini/**",
    ".codex/**",
    ".aider.conf.yml",
    ".continue/**",
    ".junie/guidelines.md",
    "CONVENTIONS.md",
    ".goosehints",
];

const GIT_HOOK: &[&str] = &[
    ".husky/**",
    ".githooks/**",
    ".git-hooks/**",
    ".git/hooks/**",
    ".pre-commit-config.yaml",
    ".pre-commit-hooks.yaml",
    "lefthook.yml",
    "lefthook.yaml",
    ".lefthook.yml",
    ".lefthook.yaml",
];

const BUILD_SCRIPT: &[&str] = &[
    "build.rs",
    "**/build.rs",
    "Makefile",
    "**/Makefile",
    "GNUmakefile",
    "**/*.mk",
    "CMakeLists.txt",
    "**/CMakeLists.txt",
    "setup.py",
    "**/setup.py",
    "setup.cfg",
    "pyproject.toml",
    "**/pyproject.toml",
    "package.json",
    "**/package.json",
    "build.gradle",
    "**/build.gradle",
    "build.gradle.kts",
    "**/build.gradle.kts",
    "settings.gradle",
    "gradlew",
    "pom.xml",
    "**/pom.xml",
    "Rakefile",
    "**/*.gemspec",
    "Dockerfile",
    "**/Dockerfile",
    "justfile",
    "Justfile",
    "configure",
    "meson.build",
];

impl PathClass {
    /// Every class, in a fixed order.
    pub const ALL: [PathClass; 4] = [
        PathClass::Workflow,
        PathClass::AgentInstructions,
        PathClass::GitHook,
        PathClass::BuildScript,
    ];

    /// The classes the built-in policies hold to a lower blocking threshold.
    pub const STRICT: [PathClass; 2] = [PathClass::Workflow, PathClass::AgentInstructions];

    /// The class's path globs (`/` is matched literally; `**/x` also matches `x`).
    pub fn globs(self) -> &'static [&'static str] {
        match self {
            PathClass::Workflow => WORKFLOW,
            PathClass::AgentInstructions => AGENT_INSTRUCTIONS,
            PathClass::GitHook => GIT_HOOK,
            PathClass::BuildScript => BUILD_SCRIPT,
        }
    }

    /// A short human name: `workflow`, `agent instruction file`, …
    pub fn describe(self) -> &'static str {
        match self {
            PathClass::Workflow => "CI workflow",
            PathClass::AgentInstructions => "agent instruction file",
            PathClass::GitHook => "git hook",
            PathClass::BuildScript => "build script",
        }
    }
}

/// The path classes, compiled.
#[derive(Debug, Clone)]
pub struct PathClasses {
    sets: Vec<(PathClass, GlobSet)>,
}

impl Default for PathClasses {
    fn default() -> Self {
        PathClasses::new()
    }
}

impl PathClasses {
    /// Compiles every class's globs. Matching is ASCII case-insensitive:
    /// `claude.md` is `CLAUDE.md` on a case-insensitive filesystem, and
    /// treating it as sensitive fails closed.
    pub fn new() -> PathClasses {
        let sets = PathClass::ALL
            .iter()
            .map(|&c| {
                let mut b = GlobSetBuilder::new();
                for g in c.globs() {
                    // The globs are constants checked by the tests below; an
                    // invalid one would only be skipped.
                    if let Ok(g) = GlobBuilder::new(g)
                        .literal_separator(true)
                        .case_insensitive(true)
                        .build()
                    {
                        b.add(g);
                    }
                }
                (c, b.build().unwrap_or_else(|_| GlobSet::empty()))
            })
            .collect();
        PathClasses { sets }
    }

    /// The class of a path, after normalising it the way a patch is applied
    /// (see [`crate::diff::path::normalize`]); the first class in
    /// [`PathClass::ALL`] order wins.
    pub fn classify(&self, path: &[u8]) -> Option<PathClass> {
        let p = crate::diff::path::normalize(path);
        let p = String::from_utf8_lossy(&p);
        self.sets
            .iter()
            .find(|(_, s)| s.is_match(&*p))
            .map(|(c, _)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_glob_compiles() {
        for c in PathClass::ALL {
            for g in c.globs() {
                assert!(
                    GlobBuilder::new(g).literal_separator(true).build().is_ok(),
                    "{g}"
                );
            }
        }
    }

    /// The agent-instruction rule and the policies read the same list.
    #[test]
    fn agent_rule_paths_are_the_agent_class() {
        let rules = crate::rules::Ruleset::builtin();
        let rule = rules
            .rules()
            .find(|r| r.id() == "pi.agent-instructions-file")
            .unwrap();
        assert_eq!(rule.paths(), PathClass::AgentInstructions.globs());
    }

    #[test]
    fn classes() {
        let p = PathClasses::new();
        for (path, want) in [
            (".github/workflows/x.yml", Some(PathClass::Workflow)),
            (".github///workflows/x.yml", Some(PathClass::Workflow)),
            ("sub/action.yml", Some(PathClass::Workflow)),
            ("CLAUDE.md", Some(PathClass::AgentInstructions)),
            ("docs/claude.md", Some(PathClass::AgentInstructions)),
            (".claude/settings.json", Some(PathClass::AgentInstructions)),
            (".vscode/mcp.json", Some(PathClass::AgentInstructions)),
            (".cursor//rules/x.mdc", Some(PathClass::AgentInstructions)),
            (".husky/pre-commit", Some(PathClass::GitHook)),
            ("crates/x/build.rs", Some(PathClass::BuildScript)),
            ("src/main.rs", None),
            ("docs/ci.yml", None),
            (".github/dependabot.yml", None),
        ] {
            assert_eq!(p.classify(path.as_bytes()), want, "{path}");
        }
    }
}
