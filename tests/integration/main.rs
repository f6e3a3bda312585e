//! The one integration-test binary: each module covers one area, sharing `support`.

mod accuracy;
mod architecture;
#[cfg(feature = "candle")]
mod candle;
mod cluster;
mod compare;
mod disk;
#[cfg(any(feature = "candle", feature = "llama-cpp"))]
mod engines;
mod faults;
mod fuzz;
mod hf;
mod hostile;
mod http;
mod launch;
mod limits;
#[cfg(feature = "llama-cpp")]
mod llama_cpp;
mod model;
mod multi_turn;
#[cfg(any(feature = "candle", feature = "llama-cpp"))]
mod nvtx;
mod outputs;
mod preprocess;
mod ratio;
mod reasoning;
mod report;
mod resources;
mod roofline;
mod run;
mod serve;
mod serve_abuse;
mod signals;
mod suite;
mod support;
mod sweep;
mod trace;
