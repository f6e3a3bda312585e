//! Models: specs (`path`, directory, `synth:`, `hf:`, named), GGUF inspection, the
//! synthetic model writer and GGUF -> `tokenizers` conversion.

pub mod convert;
pub mod error;
pub mod gguf;
pub mod hf;
pub mod inspect;
#[cfg(feature = "llama-cpp")]
pub mod llama;
pub mod parity;
pub mod registry;
pub mod spec;
pub mod synth;
pub mod tokenizer;
pub mod vocab;

pub use convert::{tokenizer_from_gguf, tokenizer_from_gguf_path};
pub use error::ModelError;
pub use gguf::GgufFile;
pub use inspect::ModelReport;
pub use parity::{tokenizer_parity, ParityReport};
pub use registry::{registry, KnownModel, Preset};
pub use spec::{resolve, Fingerprint, ModelFormat, ModelSpec, ResolveOptions, ResolvedModel};
pub use synth::{synthesize, Quant, SynthSummary};
