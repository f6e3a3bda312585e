//! The built-in workloads and their data, embedded in the binary so that every workload
//! runs from any directory with nothing to download.

/// `(name, toml source)` of every built-in workload, in the order `workloads` lists them.
pub const WORKLOADS: &[(&str, &str)] = &[
    ("short", include_str!("../../workloads/short.toml")),
    ("long", include_str!("../../workloads/long.toml")),
    ("stress", include_str!("../../workloads/stress.toml")),
    (
        "summarization",
        include_str!("../../workloads/summarization.toml"),
    ),
    ("random", include_str!("../../workloads/random.toml")),
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
];

/// The TOML source of a built-in workload.
pub fn workload(name: &str) -> Option<&'static str> {
    WORKLOADS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// A built-in data file.
pub fn data(path: &str) -> Option<&'static str> {
    DATA.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}
