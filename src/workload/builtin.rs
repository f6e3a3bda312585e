//! The built-in workloads and their data, embedded in the binary so that every workload
//! runs from any directory with nothing to download.

use super::file::Format;

/// `(name, format, source)` of every built-in workload, in the order `workloads` lists
/// them. Definitions are TOML or YAML, as a user's may be.
pub const WORKLOADS: &[(&str, Format, &str)] = &[
    (
        "short",
        Format::Toml,
        include_str!("../../workloads/short.toml"),
    ),
    (
        "long",
        Format::Toml,
        include_str!("../../workloads/long.toml"),
    ),
    (
        "stress",
        Format::Toml,
        include_str!("../../workloads/stress.toml"),
    ),
    (
        "summarization",
        Format::Toml,
        include_str!("../../workloads/summarization.toml"),
    ),
    (
        "random",
        Format::Toml,
        include_str!("../../workloads/random.toml"),
    ),
    (
        "categories",
        Format::Yaml,
        include_str!("../../workloads/categories.yaml"),
    ),
    (
        "extraction",
        Format::Yaml,
        include_str!("../../workloads/extraction.yaml"),
    ),
    (
        "shared-prefix",
        Format::Yaml,
        include_str!("../../workloads/shared-prefix.yaml"),
    ),
    (
        "multi-turn",
        Format::Yaml,
        include_str!("../../workloads/multi-turn.yaml"),
    ),
];

/// Data files the built-in workloads refer to, by their path relative to `workloads/`.
pub const DATA: &[(&str, &str)] = &[
    (
        "data/bridges.txt",
        include_str!("../../workloads/data/bridges.txt"),
    ),
    (
        "data/lighthouses.txt",
        include_str!("../../workloads/data/lighthouses.txt"),
    ),
    (
        "data/bread.txt",
        include_str!("../../workloads/data/bread.txt"),
    ),
    (
        "data/bridges.summary.txt",
        include_str!("../../workloads/data/bridges.summary.txt"),
    ),
    (
        "data/lighthouses.summary.txt",
        include_str!("../../workloads/data/lighthouses.summary.txt"),
    ),
    (
        "data/bread.summary.txt",
        include_str!("../../workloads/data/bread.summary.txt"),
    ),
    (
        "data/categories.jsonl",
        include_str!("../../workloads/data/categories.jsonl"),
    ),
    (
        "data/extraction.jsonl",
        include_str!("../../workloads/data/extraction.jsonl"),
    ),
    (
        "data/extraction.schema.json",
        include_str!("../../workloads/data/extraction.schema.json"),
    ),
];

/// The format and source of a built-in workload.
pub fn workload(name: &str) -> Option<(Format, &'static str)> {
    WORKLOADS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, f, s)| (*f, *s))
}

/// A built-in data file.
pub fn data(path: &str) -> Option<&'static str> {
    DATA.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}
