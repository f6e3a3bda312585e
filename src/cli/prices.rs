//! The cost flags of `run` (and `compare`): prices per million tokens given on the
//! command line, or looked up by model name in a price table file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metrics::cost::Prices;
use crate::workload::file::{self, Format};

const INPUT: &str = "--price-input-per-mtok";
const OUTPUT: &str = "--price-output-per-mtok";

/// Prices for the cost of a run, as typed.
#[derive(Debug, Clone, Args, Default)]
#[command(next_help_heading = "Cost")]
pub struct PriceArgs {
    /// Price of a million input (prompt) tokens, in US dollars: gives each request's
    /// cost, the run's, and its cost per million output tokens.
    #[arg(long, value_name = "USD", allow_negative_numbers = true, value_parser = super::ranged::float(crate::limits::PRICE_USD))]
    pub price_input_per_mtok: Option<f64>,
    /// Price of a million output tokens, in US dollars.
    #[arg(long, value_name = "USD", allow_negative_numbers = true, value_parser = super::ranged::float(crate::limits::PRICE_USD))]
    pub price_output_per_mtok: Option<f64>,
    /// A price table by model name (TOML, YAML or JSON): for each model,
    /// `input_per_mtok` and `output_per_mtok`. The --model given is looked up in it; the
    /// --price-* flags override what it says.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
}

/// One model's row of a price table.
#[derive(Debug, Deserialize)]
struct Row {
    input_per_mtok: f64,
    output_per_mtok: f64,
}

impl PriceArgs {
    /// The prices for `model` (the --model given), or `None` when no price was given.
    pub fn validate(&self, model: Option<&str>) -> Result<Option<Prices>> {
        let table = match &self.prices {
            Some(path) => Some(lookup(path, model)?),
            None => None,
        };
        let prices = match (table, self.price_input_per_mtok, self.price_output_per_mtok) {
            (None, None, None) => return Ok(None),
            (Some(t), i, o) => Prices {
                input_per_mtok: i.unwrap_or(t.input_per_mtok),
                output_per_mtok: o.unwrap_or(t.output_per_mtok),
            },
            (None, Some(i), Some(o)) => Prices {
                input_per_mtok: i,
                output_per_mtok: o,
            },
            (None, Some(_), None) | (None, None, Some(_)) => {
                return Err(Error::Config(format!(
                    "give both {INPUT} and {OUTPUT} (0 for a side that is free), or --prices FILE"
                )))
            }
        };
        prices.validate(INPUT, OUTPUT).map_err(Error::Config)?;
        Ok(Some(prices))
    }
}

/// `model`'s prices from the table at `path`, checked.
fn lookup(path: &Path, model: Option<&str>) -> Result<Prices> {
    let shown = path.display();
    let format = Format::of(path).ok_or_else(|| {
        Error::Config(format!(
            "--prices {shown}: use a .toml, .yaml or .json price table"
        ))
    })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config(format!("--prices {shown}: {e}")))?;
    let table: BTreeMap<String, Row> =
        file::decode(&text, format).map_err(|e| Error::Config(format!("--prices {shown}: {e}")))?;
    let Some(model) = model else {
        return Err(Error::Config(format!(
            "--prices {shown} is looked up by model name: give --model"
        )));
    };
    let row = table.get(model).ok_or_else(|| {
        let names: Vec<&str> = table.keys().map(String::as_str).collect();
        Error::Config(format!(
            "--prices {shown} has no row for model `{model}` (it has: {})",
            names.join(", ")
        ))
    })?;
    let prices = Prices {
        input_per_mtok: row.input_per_mtok,
        output_per_mtok: row.output_per_mtok,
    };
    prices
        .validate(
            &format!("--prices {shown}: {model}.input_per_mtok"),
            &format!("--prices {shown}: {model}.output_per_mtok"),
        )
        .map_err(Error::Config)?;
    Ok(prices)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn flags_and_tables_give_prices() {
        let args = PriceArgs {
            price_input_per_mtok: Some(0.4),
            price_output_per_mtok: Some(1.6),
            prices: None,
        };
        assert_eq!(
            args.validate(None).unwrap(),
            Some(Prices {
                input_per_mtok: 0.4,
                output_per_mtok: 1.6
            })
        );
        let (_d, p) = table(
            "p.yaml",
            "gpt-4.1-mini:\n  input_per_mtok: 0.4\n  output_per_mtok: 1.6\nother:\n  input_per_mtok: 1\n  output_per_mtok: 2\n",
        );
        let args = PriceArgs {
            price_output_per_mtok: Some(3.0),
            prices: Some(p.clone()),
            ..PriceArgs::default()
        };
        let got = args.validate(Some("gpt-4.1-mini")).unwrap().unwrap();
        assert_eq!((got.input_per_mtok, got.output_per_mtok), (0.4, 3.0));
        let err = args.validate(Some("nope")).unwrap_err().to_string();
        assert!(
            err.ends_with("has no row for model `nope` (it has: gpt-4.1-mini, other)"),
            "{err}"
        );
    }

    #[test]
    fn bad_prices_name_the_flag_or_key() {
        let args = PriceArgs {
            price_input_per_mtok: Some(-1.0),
            price_output_per_mtok: Some(1.0),
            prices: None,
        };
        let err = args.validate(None).unwrap_err().to_string();
        assert_eq!(
            err,
            "--price-input-per-mtok must be a price of 0 or more, got -1"
        );
        let (_d, p) = table("p.toml", "[m]\ninput_per_mtok = 1\noutput_per_mtok = inf\n");
        let args = PriceArgs {
            prices: Some(p),
            ..PriceArgs::default()
        };
        let err = args.validate(Some("m")).unwrap_err().to_string();
        assert!(
            err.ends_with("m.output_per_mtok must be a price of 0 or more, got inf"),
            "{err}"
        );
        let (_d, p) = table("p.json", r#"{"m": {"input_per_mtok": 1, "output": 2}}"#);
        let args = PriceArgs {
            prices: Some(p),
            ..PriceArgs::default()
        };
        let err = args.validate(Some("m")).unwrap_err().to_string();
        assert!(
            err.contains("unknown key m.output") || err.contains("missing field"),
            "{err}"
        );
    }
}
