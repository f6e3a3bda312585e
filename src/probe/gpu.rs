//! The GPU half of the probe, on CUDA builds: device-memory read bandwidth and f32 FMA peak
//! with this project's own kernels (kernels/probe.cu, compiled to PTX by build.rs under
//! the `cuda` feature), and matmul throughput per data type through cuBLAS, as candle's
//! matmul calls it: the ceiling an engine's GEMMs meet. Every figure is timed with CUDA
//! events on the device's stream, warmed up, and the fastest of several rounds counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One GPU's measured limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuProbeEntry {
    /// The machine's key (as the CPU entries'), so a cache holds many machines.
    pub machine: String,
    /// The device as runs name it (`cuda:0`).
    pub device: String,
    /// The device's name from the driver.
    pub name: String,
    /// Streaming read of device memory, GB/s (1e9 bytes).
    pub read_gb_s: f64,
    /// Peak f32 FMA rate of the CUDA cores, GFLOP/s (an FMA is two).
    pub f32_gflop_s: f64,
    /// cuBLAS matmul rate per data type (`f32`, `f16`, `bf16`), GFLOP/s.
    pub matmul_gflop_s: BTreeMap<String, f64>,
    pub measured_at: String,
}

impl GpuProbeEntry {
    /// The compute ceiling for a run in `dtype` (a matmul rate where one was measured,
    /// else the FMA peak).
    pub fn peak_gflop_s(&self, dtype: Option<&str>) -> f64 {
        dtype
            .and_then(|d| self.matmul_gflop_s.get(d))
            .copied()
            .unwrap_or(self.f32_gflop_s)
    }
}

/// What one GPU measured, before it is keyed to a machine.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuFigures {
    pub name: String,
    pub read_gb_s: f64,
    pub f32_gflop_s: f64,
    pub matmul_gflop_s: BTreeMap<String, f64>,
}

/// Measures `cuda:<ordinal>`; `quick` reads less and repeats less. An error is one
/// sentence (no driver, no such device, a kernel that failed to load or run).
pub fn measure(ordinal: usize, quick: bool) -> Result<GpuFigures, String> {
    imp::measure(ordinal, quick)
}

#[cfg(not(feature = "cuda"))]
mod imp {
    pub fn measure(_ordinal: usize, _quick: bool) -> Result<super::GpuFigures, String> {
        Err("this build has no CUDA support: rebuild with --features cuda".into())
    }
}

#[cfg(feature = "cuda")]
mod imp {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use candle_core::cuda_backend::cudarc::driver::{
        sys::{CUdevice_attribute, CUevent_flags},
        CudaContext, CudaEvent, CudaStream, DriverError, LaunchConfig, PushKernelArg,
    };
    use candle_core::cuda_backend::cudarc::nvrtc::Ptx;
    use candle_core::{DType, Device, Tensor};

    use super::GpuFigures;
    use crate::engine::device::{self, DeviceSpec};

    /// The probe's kernels, compiled by build.rs.
    const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/probe.ptx"));

    pub fn measure(ordinal: usize, quick: bool) -> Result<GpuFigures, String> {
        let device = device::open(&DeviceSpec::Cuda(ordinal)).map_err(|e| e.to_string())?;
        // cudarc may panic on a driver it cannot use; the probe must not.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| on_device(&device, quick)))
            .unwrap_or_else(|_| {
                Err(format!(
                    "the CUDA driver failed while probing cuda:{ordinal}"
                ))
            })
    }

    fn on_device(device: &Device, quick: bool) -> Result<GpuFigures, String> {
        let cuda = device.as_cuda_device().map_err(|e| e.to_string())?;
        let stream = cuda.cuda_stream();
        let ctx = stream.context().clone();
        let name = ctx.name().map_err(err("device name"))?;
        let sms = ctx
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(err("SM count"))?
            .max(1) as u32;
        let module = ctx
            .load_module(Ptx::from_src(PTX))
            .map_err(err("loading kernels/probe.cu"))?;
        let timer = Timer::new(&ctx, &stream).map_err(err("creating CUDA events"))?;
        let rounds = if quick { 3 } else { 5 };

        // Read bandwidth: a buffer many times L2 (50-60 MB on H100/H200), read by enough
        // blocks to fill every SM, several launches per timed round.
        let read = module
            .load_function("nb_read_f4")
            .map_err(err("nb_read_f4"))?;
        let bytes: usize = if quick { 512 << 20 } else { 4 << 30 };
        let n4 = (bytes / 16) as u64;
        let buf = stream
            .alloc_zeros::<f32>(bytes / 4)
            .map_err(err("allocating the read buffer"))?;
        let mut sink = stream.alloc_zeros::<f32>(1).map_err(err("allocating"))?;
        let cfg = LaunchConfig {
            grid_dim: (sms * 8, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let launches = 10;
        let read_s = timer.fastest(rounds, || {
            for _ in 0..launches {
                let mut b = stream.launch_builder(&read);
                b.arg(&buf).arg(&n4).arg(&mut sink);
                // SAFETY: the arguments match nb_read_f4's (const float4*, u64, float*); the
                // buffer holds n4 float4s and the sink one float.
                unsafe { b.launch(cfg) }.map_err(err("nb_read_f4"))?;
            }
            Ok(())
        })?;
        let read_gb_s = (bytes * launches) as f64 / read_s / 1e9;
        drop(buf);

        // f32 FMA peak: 16 FLOPs per thread and iteration (kernels/probe.cu).
        let fma = module
            .load_function("nb_fma_f32")
            .map_err(err("nb_fma_f32"))?;
        let (blocks, threads) = (sms * 32, 256u32);
        let iters: i32 = if quick { 1 << 14 } else { 1 << 16 };
        let mut out = stream
            .alloc_zeros::<f32>((blocks * threads) as usize)
            .map_err(err("allocating"))?;
        let (a, b) = (0.999_f32, 1e-3_f32);
        let fma_cfg = LaunchConfig {
            grid_dim: (blocks, 1, 1),
            block_dim: (threads, 1, 1),
            shared_mem_bytes: 0,
        };
        let fma_s = timer.fastest(rounds, || {
            let mut l = stream.launch_builder(&fma);
            l.arg(&mut out).arg(&iters).arg(&a).arg(&b);
            // SAFETY: the arguments match nb_fma_f32's (float*, int, float, float); `out`
            // holds one float per launched thread.
            unsafe { l.launch(fma_cfg) }
                .map(|_| ())
                .map_err(err("nb_fma_f32"))
        })?;
        let f32_flops = 16.0 * f64::from(iters) * f64::from(blocks * threads);

        // cuBLAS matmuls through candle, square, large enough to reach the plateau. Each
        // product allocates its output inside the timed region, as a product in an
        // engine's forward pass does.
        let n = if quick { 4096 } else { 8192 };
        let mut matmul_gflop_s = BTreeMap::new();
        for (label, dtype) in [
            ("f32", DType::F32),
            ("f16", DType::F16),
            ("bf16", DType::BF16),
        ] {
            let x = Tensor::ones((n, n), dtype, device).map_err(|e| e.to_string())?;
            let y = Tensor::ones((n, n), dtype, device).map_err(|e| e.to_string())?;
            let reps = 5;
            let s = timer.fastest(rounds, || {
                for _ in 0..reps {
                    x.matmul(&y)
                        .map_err(|e| format!("GPU probe: {label} matmul: {e}"))?;
                }
                Ok(())
            })?;
            let flops = 2.0 * (n as f64).powi(3) * reps as f64;
            matmul_gflop_s.insert(label.to_owned(), flops / s / 1e9);
        }

        Ok(GpuFigures {
            name,
            read_gb_s,
            f32_gflop_s: f32_flops / fma_s / 1e9,
            matmul_gflop_s,
        })
    }

    /// A driver error as one sentence naming what failed.
    fn err(what: &'static str) -> impl Fn(DriverError) -> String + Copy {
        move |e| format!("GPU probe: {what}: {e}")
    }

    /// Two events on the device's stream.
    struct Timer<'a> {
        stream: &'a Arc<CudaStream>,
        start: CudaEvent,
        stop: CudaEvent,
    }

    impl<'a> Timer<'a> {
        fn new(ctx: &Arc<CudaContext>, stream: &'a Arc<CudaStream>) -> Result<Self, DriverError> {
            // The default flags keep timing on (cudarc's own default turns it off).
            let flags = Some(CUevent_flags::CU_EVENT_DEFAULT);
            Ok(Timer {
                stream,
                start: ctx.new_event(flags)?,
                stop: ctx.new_event(flags)?,
            })
        }

        /// Runs `work` once to warm up, then `rounds` times between the events, and
        /// returns the fastest round in seconds.
        fn fastest(
            &self,
            rounds: usize,
            mut work: impl FnMut() -> Result<(), String>,
        ) -> Result<f64, String> {
            let sync = err("synchronizing");
            work()?;
            self.stream.synchronize().map_err(sync)?;
            let mut best = f64::INFINITY;
            for _ in 0..rounds {
                self.start.record(self.stream).map_err(sync)?;
                work()?;
                self.stop.record(self.stream).map_err(sync)?;
                // `elapsed_ms` waits for the stop event: everything queued has finished.
                let ms = self.start.elapsed_ms(&self.stop).map_err(sync)?;
                best = best.min(f64::from(ms) / 1e3);
            }
            if best.is_finite() && best > 0.0 {
                Ok(best)
            } else {
                Err("GPU probe: the device timer read zero".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_meets_its_dtypes_matmul_rate_or_the_fma_peak() {
        let e = GpuProbeEntry {
            machine: "m".into(),
            device: "cuda:0".into(),
            name: "GPU".into(),
            read_gb_s: 4000.0,
            f32_gflop_s: 60_000.0,
            matmul_gflop_s: [("bf16".to_string(), 700_000.0)].into(),
            measured_at: String::new(),
        };
        assert_eq!(e.peak_gflop_s(Some("bf16")), 700_000.0);
        assert_eq!(e.peak_gflop_s(Some("f16")), 60_000.0);
        assert_eq!(e.peak_gflop_s(None), 60_000.0);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_cpu_build_says_it_has_no_cuda() {
        let e = measure(0, true).unwrap_err();
        assert!(e.contains("--features cuda"), "{e}");
    }
}
