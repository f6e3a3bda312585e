//! clap value parsers for numeric flags: each flag is parsed against its range from
//! [`limits`](crate::limits), so a value outside it (`0`, `-1`, `NaN`, `inf`, `1e300`, one
//! past the maximum) is a one-line usage error naming the flag, the value and the range,
//! and nothing downstream sees an unchecked number.

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;

use crate::limits::{FloatRange, IntRange, OutOfRange};

/// An integer flag inside `range`, as the type `T` its config wants.
#[derive(Debug)]
pub struct Int<T> {
    range: IntRange,
    to: PhantomData<fn() -> T>,
}

impl<T> Clone for Int<T> {
    fn clone(&self) -> Self {
        Int {
            range: self.range,
            to: PhantomData,
        }
    }
}

/// The parser of an integer flag inside `range`.
pub fn int<T>(range: IntRange) -> Int<T> {
    Int {
        range,
        to: PhantomData,
    }
}

/// A float flag inside a range.
#[derive(Debug, Clone)]
pub struct Float<T> {
    range: FloatRange,
    to: PhantomData<fn() -> T>,
}

/// The parser of a float flag inside `range`.
pub fn float(range: FloatRange) -> Float<f64> {
    Float {
        range,
        to: PhantomData,
    }
}

/// The parser of an `f32` flag inside `range`.
pub fn float32(range: FloatRange) -> Float<f32> {
    Float {
        range,
        to: PhantomData,
    }
}

/// The flag's name as typed in its long form, for the message.
fn flag_name(arg: Option<&clap::Arg>) -> String {
    match arg {
        Some(a) => match a.get_long() {
            Some(l) => format!("--{l}"),
            None => a.get_id().to_string(),
        },
        None => "value".into(),
    }
}

fn usage_error(cmd: &clap::Command, e: OutOfRange) -> clap::Error {
    clap::Error::raw(ErrorKind::ValueValidation, format!("{e}\n")).with_cmd(cmd)
}

impl<T> TypedValueParser for Int<T>
where
    T: TryFrom<i128> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        self.range
            .parse(&flag_name(arg), &value.to_string_lossy())
            .map_err(|e| usage_error(cmd, e))
    }
}

impl TypedValueParser for Float<f64> {
    type Value = f64;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<f64, clap::Error> {
        self.range
            .parse(&flag_name(arg), &value.to_string_lossy())
            .map_err(|e| usage_error(cmd, e))
    }
}

impl TypedValueParser for Float<f32> {
    type Value = f32;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<f32, clap::Error> {
        self.range
            .parse(&flag_name(arg), &value.to_string_lossy())
            .map(|v| v as f32)
            .map_err(|e| usage_error(cmd, e))
    }
}
