//! The one integration-test binary: each module covers one area, sharing `support`.

mod run;
mod support;
