//! Goodput: completed requests per second that meet every service-level objective
//! given (ARCHITECTURE.md). The SLO string is vLLM's: `ttft:200,tpot:50,e2el:5000`, in ms.

use serde::{Deserialize, Serialize};

use super::record::RequestRecord;

/// Latency objectives, in milliseconds; a request meets those that are set.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2el_ms: Option<f64>,
}

impl Slo {
    /// Parses `ttft:200,tpot:50,e2el:5000` (commas or spaces between pairs).
    pub fn parse(s: &str) -> Result<Slo, String> {
        Slo::parse_flag(s, "--goodput")
    }

    /// [`Slo::parse`], with messages naming `flag`.
    pub fn parse_flag(s: &str, flag: &str) -> Result<Slo, String> {
        let mut slo = Slo::default();
        let pairs: Vec<&str> = s.split([',', ' ']).filter(|p| !p.is_empty()).collect();
        if pairs.is_empty() {
            return Err(format!(
                "{flag} is empty: give e.g. ttft:200,tpot:50,e2el:5000"
            ));
        }
        for pair in pairs {
            let (k, v) = pair
                .split_once(':')
                .ok_or_else(|| format!("{flag} `{pair}`: expected NAME:MS, e.g. ttft:200"))?;
            let ms = crate::limits::OBJECTIVE
                .parse(&format!("{flag} {}", k.trim()), v)
                .map_err(|e| format!("{e} ms"))?;
            let slot = match k.trim().to_ascii_lowercase().as_str() {
                "ttft" => &mut slo.ttft_ms,
                "tpot" => &mut slo.tpot_ms,
                "e2el" | "e2e" => &mut slo.e2el_ms,
                other => {
                    return Err(format!(
                        "{flag}: unknown objective `{other}`; use ttft, tpot or e2el"
                    ))
                }
            };
            *slot = Some(ms);
        }
        Ok(slo)
    }

    /// Whether a completed request meets every objective. A request with one token has
    /// no TPOT and meets that objective, as in vLLM.
    pub fn met_by(&self, r: &RequestRecord) -> bool {
        let within = |limit: Option<f64>, v: Option<f64>| match (limit, v) {
            (Some(l), Some(v)) => v <= l,
            (Some(_), None) => false,
            (None, _) => true,
        };
        r.ok && within(self.ttft_ms, r.ttft_ms)
            && within(self.tpot_ms, r.tpot_ms.or(Some(0.0)))
            && within(self.e2el_ms, Some(r.e2e_ms))
    }
}

/// The goodput of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Goodput {
    pub slo: Slo,
    /// Completed requests that met every objective.
    pub good_requests: usize,
    /// Those requests per second of the run's duration.
    pub goodput_req_s: f64,
    /// Their share of the measured requests.
    pub good_fraction: f64,
}

/// Goodput over `records` for a run of `duration_s`.
pub fn compute(records: &[RequestRecord], slo: Slo, duration_s: f64) -> Goodput {
    let good = records.iter().filter(|r| slo.met_by(r)).count();
    Goodput {
        slo,
        good_requests: good,
        goodput_req_s: if duration_s > 0.0 {
            good as f64 / duration_s
        } else {
            0.0
        },
        good_fraction: if records.is_empty() {
            0.0
        } else {
            good as f64 / records.len() as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slo_string_parses_and_bad_ones_say_why() {
        let s = Slo::parse("ttft:200,tpot:50,e2el:5000").unwrap();
        assert_eq!(
            (s.ttft_ms, s.tpot_ms, s.e2el_ms),
            (Some(200.0), Some(50.0), Some(5000.0))
        );
        assert_eq!(Slo::parse("ttft:200 tpot:5").unwrap().tpot_ms, Some(5.0));
        assert!(Slo::parse("ttft=200").unwrap_err().contains("NAME:MS"));
        assert!(Slo::parse("foo:1")
            .unwrap_err()
            .contains("unknown objective"));
        assert_eq!(
            Slo::parse("ttft:-1").unwrap_err(),
            "--goodput ttft -1: out of range, expected a number from 0 (exclusive) to 1000000000000 ms"
        );
        assert!(Slo::parse("").is_err());
    }

    #[test]
    fn goodput_counts_requests_meeting_every_objective() {
        let r = |ttft: f64, tpot: f64, ok: bool| RequestRecord {
            ok,
            ttft_ms: Some(ttft),
            tpot_ms: Some(tpot),
            e2e_ms: ttft + 10.0 * tpot,
            ..RequestRecord::default()
        };
        let rs = vec![
            r(100.0, 10.0, true),
            r(300.0, 10.0, true),
            r(100.0, 60.0, true),
            r(1.0, 1.0, false),
        ];
        let g = compute(&rs, Slo::parse("ttft:200,tpot:50").unwrap(), 2.0);
        assert_eq!(g.good_requests, 1);
        assert_eq!(g.goodput_req_s, 0.5);
        assert_eq!(g.good_fraction, 0.25);
    }
}
