//! Injection rules: a versioned TOML rule format, built-in packs, and the
//! engine that runs them over a diff's added lines.
//!
//! A [`Ruleset`] is compiled once (one Aho-Corasick automaton over every
//! keyword, a multi-pattern regex for keyword-less rules, per-rule
//! confirmation regexes) and is `Send + Sync`, so it is shared across scans and
//! threads. The format is documented in `docs/rules.md`.
//!
//! ```
//! use diffver_core::rules::Ruleset;
//! let rules = Ruleset::builtin();
//! assert!(rules.rules().any(|r| r.id() == "pi.instruction-override"));
//! assert!(rules.check_examples().is_empty());
//! ```

mod decode;
mod deobfuscate;
mod detectors;
mod engine;
mod gate;
mod mail;
mod normalize;
mod redact;
mod rule;
mod schema;
mod shell;
mod synthetic;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use regex_automata::meta::Regex;

pub use engine::ScanOptions;
pub use rule::RuleError;

use crate::diff::Diff;
use crate::finding::{Category, Confidence, FindingBuilder, Severity};
use decode::Decoder;
use rule::{Rule, Scope};
use schema::{Example, RuleFile, SCHEMA_V1};

/// The built-in packs, embedded in the binary: (pack name, TOML source).
pub const BUILTIN_PACKS: [(&str, &str); 6] = [
    (
        "prompt-injection",
        include_str!("builtin/prompt-injection.toml"),
    ),
    (
        "hidden-unicode",
        include_str!("builtin/hidden-unicode.toml"),
    ),
    ("secrets", include_str!("builtin/secrets.toml")),
    ("ci-injection", include_str!("builtin/ci-injection.toml")),
    ("code-exec", include_str!("builtin/code-exec.toml")),
    ("suppression", include_str!("builtin/suppression.toml")),
];

/// Most distinct keywords a ruleset may have: the keyword automaton is a
/// DFA, and its size grows with them.
const MAX_KEYWORDS: usize = 4096;

/// A compiled set of rules.
#[derive(Debug)]
pub struct Ruleset {
    rules: Vec<Rule>,
    ac: Option<AhoCorasick>,
    /// The same keywords as `ac`, for finding the lines that hold one
    /// (`gate.rs`); `ac` then finds the matches in those lines.
    gate: Option<gate::KeywordGate>,
    kw_rules: Vec<Vec<u32>>,
    /// Per keyword: the deobfuscation transforms it triggers (its
    /// disguised spelling of a core word), if any.
    kw_deob: Vec<decode::DecoderSet>,
    /// Keywords outside ASCII (phrases in other scripts), in an automaton
    /// of their own that runs only on lines that are not plain ASCII: in
    /// the main automaton their bytes would widen every state of the DFA
    /// that every line is scanned with.
    uac: Option<AhoCorasick>,
    ukw_rules: Vec<Vec<u32>>,
    keywordless: Option<Regex>,
    keywordless_rules: Vec<u32>,
    ascii_detectors: Vec<u32>,
    unicode_detectors: Vec<u32>,
    normalize_rules: Vec<u32>,
    /// Rules that also match the shell view (`shell = true`).
    shell_rules: Vec<u32>,
    path_rules: Vec<u32>,
    agent_rules: Vec<u32>,
    decoders: Vec<Decoder>,
    decoder_set: decode::DecoderSet,
    scopes: Scope,
    hash: String,
}

/// Collects rule files, then compiles them into a [`Ruleset`].
#[derive(Debug, Default)]
pub struct RulesetBuilder {
    rules: Vec<Rule>,
    sources: Vec<(String, String)>,
}

impl RulesetBuilder {
    /// Adds the built-in packs.
    ///
    /// # Errors
    ///
    /// Never in a released build: the packs are checked by tests. The error
    /// type is kept so a broken embedded pack is an error, not a panic.
    pub fn add_builtin(self) -> Result<RulesetBuilder, RuleError> {
        let names: Vec<String> = BUILTIN_PACKS
            .iter()
            .map(|(name, _)| format!("builtin:{name}"))
            .collect();
        let files: Vec<(&str, &str)> = BUILTIN_PACKS
            .iter()
            .zip(&names)
            .map(|((_, src), name)| (*src, name.as_str()))
            .collect();
        self.add_files(&files)
    }

    /// Adds the rules of one TOML rule file. `source_name` names it in errors.
    ///
    /// # Errors
    ///
    /// [`RuleError`] naming the rule and field at fault, or the TOML line.
    pub fn add_toml(self, src: &str, source_name: &str) -> Result<RulesetBuilder, RuleError> {
        self.add_files(&[(src, source_name)])
    }

    /// Adds the rules of TOML rule files given as (source, name), as if one
    /// after the other with [`RulesetBuilder::add_toml`] (the same rules and
    /// the same first error), compiling the rules of all of them together.
    fn add_files(mut self, files: &[(&str, &str)]) -> Result<RulesetBuilder, RuleError> {
        // Every file is read up to the first that does not parse; the rules
        // of those read are compiled together; then the files are taken in
        // order, so an error is the one a file-by-file load would meet first.
        let mut parsed = Vec::with_capacity(files.len());
        let mut defs = Vec::new();
        for &(src, source_name) in files {
            match parse_file(src, source_name) {
                Ok(file) => {
                    let pack = file.pack.unwrap_or_else(|| source_name.to_owned());
                    parsed.push(Ok((file.rules.len(), pack)));
                    defs.push(file.rules);
                }
                Err(e) => {
                    parsed.push(Err(e));
                    break;
                }
            }
        }
        let packs: Vec<&str> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok().map(|(_, pack)| pack.as_str()))
            .collect();
        let items: Vec<(schema::RuleDef, &str)> = defs
            .into_iter()
            .zip(&packs)
            .flat_map(|(defs, pack)| defs.into_iter().map(move |d| (d, *pack)))
            .collect();
        let mut compiled = validate_all(items).into_iter();
        for (&(src, source_name), file) in files.iter().zip(&parsed) {
            let (count, _) = file.as_ref().map_err(Clone::clone)?;
            self.sources.push((source_name.to_owned(), src.to_owned()));
            for rule in compiled.by_ref().take(*count) {
                let rule = rule?;
                if self.rules.iter().any(|r| r.info.id == rule.info.id) {
                    return Err(RuleError::Duplicate {
                        rule: rule.info.id.into_owned(),
                    });
                }
                self.rules.push(rule);
            }
        }
        Ok(self)
    }

    /// Compiles the rules.
    ///
    /// # Errors
    ///
    /// [`RuleError::Invalid`] if the combined keyword automaton or regex
    /// cannot be built (too large).
    pub fn build(self) -> Result<Ruleset, RuleError> {
        let rules = self.rules;
        let hash = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            // Contents only, in load order: a source's name is how a surface
            // or a user happened to refer to it, and must not change the hash.
            for (_, src) in &self.sources {
                h.update((src.len() as u64).to_le_bytes());
                h.update(src.as_bytes());
            }
            crate::hex(&h.finalize())
        };
        let mut keywords: Vec<String> = Vec::new();
        let mut kw_rules: Vec<Vec<u32>> = Vec::new();
        let mut ukeywords: Vec<String> = Vec::new();
        let mut ukw_rules: Vec<Vec<u32>> = Vec::new();
        let mut keywordless_src = Vec::new();
        let mut keywordless_rules = Vec::new();
        let mut ascii_detectors = Vec::new();
        let mut unicode_detectors = Vec::new();
        let mut normalize_rules = Vec::new();
        let mut shell_rules = Vec::new();
        let mut path_rules = Vec::new();
        let mut agent_rules = Vec::new();
        let mut decoders: Vec<Decoder> = Vec::new();
        let mut scopes = Scope::default();
        for (i, r) in rules.iter().enumerate() {
            let i = i as u32;
            if r.scope.has(Scope::PATH) {
                path_rules.push(i);
            }
            if r.tags.iter().any(|t| t == "agent-instructions") {
                agent_rules.push(i);
            }
            for s in [Scope::ADDED, Scope::REMOVED, Scope::CONTEXT, Scope::MESSAGE] {
                if r.scope.has(s) {
                    scopes = Scope::union(scopes, s);
                }
            }
            if let Some(d) = r.detector {
                if d.unicode_only() {
                    unicode_detectors.push(i);
                } else {
                    ascii_detectors.push(i);
                }
            }
            if r.normalize {
                normalize_rules.push(i);
            }
            if r.shell {
                shell_rules.push(i);
            }
            for d in &r.decode {
                if !decoders.contains(d) {
                    decoders.push(*d);
                }
            }
            if r.regex.is_some() && !r.scope.has(Scope::PATH) {
                if r.keywords.is_empty()
                    && let Some(src) = &r.regex_src
                {
                    keywordless_src.push(src.clone());
                    keywordless_rules.push(i);
                }
                for k in &r.keywords {
                    let (kws, rules) = if k.is_ascii() {
                        (&mut keywords, &mut kw_rules)
                    } else {
                        (&mut ukeywords, &mut ukw_rules)
                    };
                    match kws.iter().position(|x| x == k) {
                        Some(p) => rules[p].push(i),
                        None => {
                            kws.push(k.clone());
                            rules.push(vec![i]);
                        }
                    }
                }
            }
        }
        // The disguised spellings of core words that trigger a transform
        // (ROT13, reversal, leetspeak) ride on the same keyword pass.
        let mut kw_deob = vec![decode::DecoderSet::default(); keywords.len()];
        for t in [Decoder::Rot13, Decoder::Reverse, Decoder::Leet] {
            if !decoders.contains(&t) {
                continue;
            }
            for k in deobfuscate::triggers(t) {
                let p = match keywords.iter().position(|x| *x == k) {
                    Some(p) => p,
                    None => {
                        keywords.push(k);
                        kw_rules.push(Vec::new());
                        kw_deob.push(decode::DecoderSet::default());
                        keywords.len() - 1
                    }
                };
                kw_deob[p] = kw_deob[p].with(t);
            }
        }
        if keywords.len() + ukeywords.len() > MAX_KEYWORDS {
            return Err(RuleError::Invalid {
                rule: "<ruleset>".into(),
                field: "keywords",
                reason: format!(
                    "{} distinct keywords; at most {MAX_KEYWORDS} are allowed",
                    keywords.len() + ukeywords.len()
                ),
            });
        }
        // The gate's table and the automaton are built side by side.
        let (ac, gate) = std::thread::scope(|s| {
            let gate = std::thread::Builder::new()
                .spawn_scoped(s, || gate::KeywordGate::build(&keywords))
                .ok();
            let ac = automaton(&keywords, true);
            let gate = match gate {
                Some(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                None => gate::KeywordGate::build(&keywords),
            };
            (ac, gate)
        });
        let ac = ac?;
        let uac = automaton(&ukeywords, false)?;
        let keywordless = if keywordless_src.is_empty() {
            None
        } else {
            Some(
                rule::compile_many(&keywordless_src).map_err(|e| RuleError::Invalid {
                    rule: "<ruleset>".into(),
                    field: "regex",
                    reason: e.to_string(),
                })?,
            )
        };
        Ok(Ruleset {
            rules,
            ac,
            gate,
            kw_rules,
            kw_deob,
            uac,
            ukw_rules,
            keywordless,
            keywordless_rules,
            ascii_detectors,
            unicode_detectors,
            normalize_rules,
            shell_rules,
            path_rules,
            agent_rules,
            decoder_set: decode::DecoderSet::of(&decoders),
            decoders,
            scopes,
            hash,
        })
    }
}

/// A failed embedded example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFailure {
    /// The rule.
    pub rule: String,
    /// Whether the example was a positive one (it should have matched).
    pub positive: bool,
    /// The example text.
    pub example: String,
}

/// The keyword automaton (a DFA, every match reported), or none without
/// keywords. ASCII letters match in any case when `ascii_case_insensitive`.
fn automaton(
    keywords: &[String],
    ascii_case_insensitive: bool,
) -> Result<Option<AhoCorasick>, RuleError> {
    if keywords.is_empty() {
        return Ok(None);
    }
    AhoCorasick::builder()
        .ascii_case_insensitive(ascii_case_insensitive)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(keywords)
        .map(Some)
        .map_err(|e| RuleError::Invalid {
            rule: "<ruleset>".into(),
            field: "keywords",
            reason: e.to_string(),
        })
}

/// Reads one TOML rule file and checks its schema. `source_name` names it in errors.
fn parse_file(src: &str, source_name: &str) -> Result<RuleFile, RuleError> {
    let file: RuleFile = toml::from_str(src).map_err(|e| RuleError::Syntax {
        source_name: source_name.to_owned(),
        line: e
            .span()
            .map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1),
        message: e.message().trim().to_owned(),
    })?;
    if file.schema != SCHEMA_V1 {
        return Err(RuleError::Schema {
            source_name: source_name.to_owned(),
            found: file.schema,
        });
    }
    Ok(file)
}

/// Validates and compiles rule definitions, in their order. Compiling the
/// regexes is most of the cost of loading rules (the built-in packs: ~45 ms of
/// ~55, a few ms for each large prompt-injection rule), so two threads take
/// definitions from one queue in turn. The results are the same, in the same
/// order, as one at a time; if no thread can be started, this thread compiles
/// them all.
fn validate_all(defs: Vec<(schema::RuleDef, &str)>) -> Vec<Result<Rule, RuleError>> {
    if defs.len() < 2 {
        return defs
            .into_iter()
            .map(|(d, pack)| rule::validate(d, pack))
            .collect();
    }
    type Done = Vec<(usize, Result<Rule, RuleError>)>;
    let queue = std::sync::Mutex::new(defs.into_iter().enumerate());
    let work = || -> Done {
        let mut done = Vec::new();
        loop {
            let next = queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .next();
            let Some((i, (def, pack))) = next else {
                return done;
            };
            done.push((i, rule::validate(def, pack)));
        }
    };
    let mut done = std::thread::scope(|s| {
        let other = std::thread::Builder::new().spawn_scoped(s, work).ok();
        let mut done = work();
        if let Some(h) = other {
            done.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        done
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

impl Ruleset {
    /// Starts a builder.
    pub fn builder() -> RulesetBuilder {
        RulesetBuilder::default()
    }

    /// The built-in packs.
    ///
    /// # Panics
    ///
    /// Only if an embedded pack is invalid, which the test suite rules out.
    pub fn builtin() -> Ruleset {
        match RulesetBuilder::default()
            .add_builtin()
            .and_then(RulesetBuilder::build)
        {
            Ok(r) => r,
            Err(e) => panic!("the built-in rule packs are invalid: {e}"),
        }
    }

    /// The built-in packs, compiled once per process and shared: every
    /// caller (threads, Python calls, the service's workers) gets the same
    /// [`Arc`]. Compiling the packs takes tens of milliseconds; sharing them
    /// costs a reference count.
    ///
    /// # Panics
    ///
    /// Only if an embedded pack is invalid, which the test suite rules out.
    pub fn builtin_shared() -> std::sync::Arc<Ruleset> {
        static BUILTIN: std::sync::OnceLock<std::sync::Arc<Ruleset>> = std::sync::OnceLock::new();
        BUILTIN
            .get_or_init(|| std::sync::Arc::new(Ruleset::builtin()))
            .clone()
    }

    /// Compiles one TOML rule file on its own.
    ///
    /// # Errors
    ///
    /// [`RuleError`] naming the rule and field at fault.
    pub fn from_toml(src: &str, source_name: &str) -> Result<Ruleset, RuleError> {
        RulesetBuilder::default()
            .add_toml(src, source_name)?
            .build()
    }

    /// The rules, in load order.
    pub fn rules(&self) -> impl Iterator<Item = RuleInfo<'_>> {
        self.rules.iter().map(|r| RuleInfo { rule: r })
    }

    /// SHA-256 (hex) of the rule sources' contents (each prefixed with its
    /// length as a little-endian u64), in load order: which rules a result
    /// was produced with. Source names do not enter it.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Runs every rule's embedded examples; returns the ones that fail.
    pub fn check_examples(&self) -> Vec<ExampleFailure> {
        let mut failures = Vec::new();
        for r in &self.rules {
            let cases = r
                .positive
                .iter()
                .map(|e| (true, e))
                .chain(r.negative.iter().map(|e| (false, e)));
            for (positive, e) in cases {
                let n = engine::example_findings(self, r, e.path(), e.text());
                if (n > 0) != positive {
                    failures.push(ExampleFailure {
                        rule: r.info.id.to_string(),
                        positive,
                        example: e.text().to_owned(),
                    });
                }
            }
        }
        failures
    }

    /// The keyword automata with their rules per keyword: `ac` (the main
    /// automaton), then the one for keywords in other scripts.
    fn automata<'a>(
        &'a self,
        ac: &'a AhoCorasick,
    ) -> impl Iterator<Item = (&'a AhoCorasick, &'a [Vec<u32>])> + 'a {
        std::iter::once((ac, self.kw_rules.as_slice()))
            .chain(self.uac.as_ref().map(|u| (u, self.ukw_rules.as_slice())))
    }

    /// Runs only the rules (no integrity checks) over a diff and returns their
    /// findings in their total order. [`crate::scan::scan`] runs both.
    pub fn find(&self, diff: &Diff<'_>, opts: &ScanOptions) -> Vec<crate::finding::Finding> {
        let mut out = Vec::new();
        engine::scan(diff, self, opts, &mut out);
        crate::finding::cap(&mut out);
        crate::finding::finish(diff, out)
    }

    /// Runs the rules over a diff; the findings are sealed by the caller
    /// (see [`crate::scan`]). Returns the most findings `out` gained at any
    /// point (duplicates are removed at the end).
    pub(crate) fn scan_into(
        &self,
        diff: &Diff<'_>,
        opts: &ScanOptions,
        out: &mut Vec<FindingBuilder>,
    ) -> usize {
        engine::scan(diff, self, opts, out)
    }

    /// With a base tree, scans the post-images of renames and copies into
    /// sensitive paths (or paths newly read by path-scoped rules) with the
    /// destination's rules; the findings are sealed by the caller.
    pub(crate) fn scan_moves_into(
        &self,
        diff: &Diff<'_>,
        base: &dyn crate::verify::BaseTree,
        opts: &ScanOptions,
        out: &mut Vec<FindingBuilder>,
    ) {
        synthetic::scan_moves(diff, self, base, opts, out);
    }
}

/// A read-only view of one rule, for listing and explaining.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo<'r> {
    rule: &'r Rule,
}

impl<'r> RuleInfo<'r> {
    /// Stable id.
    pub fn id(&self) -> &'r str {
        &self.rule.info.id
    }
    /// The pack the rule came from (its file's `pack`, else the source name).
    pub fn pack(&self) -> &'r str {
        &self.rule.pack
    }
    /// Title.
    pub fn title(&self) -> &'r str {
        &self.rule.info.title
    }
    /// Description.
    pub fn description(&self) -> &'r str {
        &self.rule.description
    }
    /// How to fix what it finds.
    pub fn remediation(&self) -> &'r str {
        &self.rule.remediation
    }
    /// Category.
    pub fn category(&self) -> Category {
        self.rule.info.category
    }
    /// Default severity.
    pub fn severity(&self) -> Severity {
        self.rule.info.severity
    }
    /// Confidence.
    pub fn confidence(&self) -> Confidence {
        self.rule.info.confidence
    }
    /// Tags (CWE ids and the like).
    pub fn tags(&self) -> &'r [String] {
        &self.rule.tags
    }
    /// Path globs the rule is limited to (empty: every file).
    pub fn paths(&self) -> &'r [String] {
        &self.rule.path_patterns
    }
    /// Prefilter keywords.
    pub fn keywords(&self) -> &'r [String] {
        &self.rule.keywords
    }
    /// The confirmation regex, if any.
    pub fn regex(&self) -> Option<&'r str> {
        self.rule.regex_src.as_deref()
    }
    /// The positive and negative embedded examples.
    pub fn examples(&self) -> (Vec<&'r str>, Vec<&'r str>) {
        (
            self.rule.positive.iter().map(Example::text).collect(),
            self.rule.negative.iter().map(Example::text).collect(),
        )
    }
    /// Whether the rule is a code detector rather than a regex.
    pub fn is_detector(&self) -> bool {
        self.rule.detector.is_some()
    }
}

/// A compiled ruleset is shared across threads: checked at compile time.
const _: fn() = assert_send_sync::<Ruleset>;
fn assert_send_sync<T: Send + Sync>() {}
