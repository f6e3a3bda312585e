//! The device an in-process engine computes on (`--device cpu|cuda:N|metal`), and the one
//! place a device spec becomes a candle device.
//!
//! Every spec parses in every build; a device this build cannot drive fails when opened,
//! with an error that names the feature to rebuild with.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::EngineError;

// candle's Metal backend exists only on Apple platforms; say so rather than leave the
// reader with errors from deep inside its dependencies.
#[cfg(all(feature = "metal", not(target_vendor = "apple")))]
compile_error!("the `metal` feature needs macOS (Apple's Metal); on Linux use `cuda` or the CPU");

/// A device as the user names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DeviceSpec {
    /// The host CPU.
    #[default]
    Cpu,
    /// The CUDA device with this ordinal.
    Cuda(usize),
    /// The default Metal device (macOS).
    Metal,
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Metal => f.write_str("metal"),
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        let bad =
            || format!("unknown device `{s}`: choose cpu, cuda, cuda:N (N = 0, 1, ...) or metal");
        match wanted.as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            "metal" => Ok(DeviceSpec::Metal),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n.parse().map(DeviceSpec::Cuda).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Opens the device a spec names, or says in one line why this build or machine cannot.
pub fn open(spec: &DeviceSpec) -> Result<Device, EngineError> {
    match *spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(ordinal) => open_cuda(ordinal),
        DeviceSpec::Metal => open_metal(),
    }
}

/// Waits until all work queued on the device has finished (a no-op on the CPU).
pub fn synchronize(device: &Device) -> Result<(), EngineError> {
    device.synchronize().map_err(|e| EngineError::Request {
        kind: super::FailureKind::Engine,
        message: format!("device synchronize failed: {}", first_line(&e.to_string())),
    })
}

/// The spec of an open device, for reports (`cuda:1`, not candle's debug form).
pub fn spec_of(device: &Device) -> DeviceSpec {
    match device.location() {
        candle_core::DeviceLocation::Cpu => DeviceSpec::Cpu,
        candle_core::DeviceLocation::Cuda { gpu_id } => DeviceSpec::Cuda(gpu_id),
        candle_core::DeviceLocation::Metal { .. } => DeviceSpec::Metal,
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<Device, EngineError> {
    // cudarc panics, or prints errors it cannot name, when the driver is missing, a stub,
    // or too old; asking the driver first, through dlopen, keeps every one of those a
    // sentence that names the driver.
    let count = cuda_driver::probe()
        .map_err(|e| EngineError::setup("CUDA", format!("cannot open cuda:{ordinal}: {e}")))?;
    if ordinal >= count {
        return Err(EngineError::setup(
            "CUDA",
            format!("cannot open cuda:{ordinal}: the CUDA driver sees {count} device(s)"),
        ));
    }
    // Creating a context can still fail; a panic from inside cudarc must not take the
    // process down with a backtrace.
    match std::panic::catch_unwind(|| Device::new_cuda(ordinal)) {
        Ok(Ok(device)) => Ok(device),
        Ok(Err(e)) => Err(EngineError::setup(
            "CUDA",
            format!("cannot open cuda:{ordinal}: {}", first_line(&e.to_string())),
        )),
        Err(_) => Err(EngineError::setup(
            "CUDA",
            format!("cannot open cuda:{ordinal}: the CUDA driver library failed to load"),
        )),
    }
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_ordinal: usize) -> Result<Device, EngineError> {
    Err(EngineError::NotCompiled {
        engine: "CUDA",
        feature: "cuda",
    })
}

/// The CUDA driver asked directly (`cuInit`, `cuDeviceGetCount`) through dlopen, before
/// cudarc is: the answer is an error code this module can name, never a panic.
#[cfg(feature = "cuda")]
mod cuda_driver {
    use std::ffi::{c_int, c_uint, c_void, CStr};

    /// The driver library, loaded; released when dropped.
    struct Library(*mut c_void);

    impl Library {
        fn open() -> Option<Library> {
            ["libcuda.so.1", "libcuda.so"].iter().find_map(|name| {
                let c_name = std::ffi::CString::new(*name).ok()?;
                // SAFETY: a valid NUL-terminated name; a non-null handle is closed once, in
                // Drop. Loading libcuda runs no code of ours.
                let handle =
                    unsafe { libc::dlopen(c_name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
                (!handle.is_null()).then_some(Library(handle))
            })
        }

        fn symbol(&self, name: &CStr) -> Option<*mut c_void> {
            // SAFETY: a live handle and a NUL-terminated name.
            let f = unsafe { libc::dlsym(self.0, name.as_ptr()) };
            (!f.is_null()).then_some(f)
        }
    }

    impl Drop for Library {
        fn drop(&mut self) {
            // SAFETY: the handle came from dlopen and is closed exactly once.
            unsafe { libc::dlclose(self.0) };
        }
    }

    /// Initialises the driver and returns how many devices it sees.
    pub fn probe() -> Result<usize, String> {
        let lib = Library::open().ok_or(
            "no CUDA driver found (libcuda.so.1 could not be loaded): is an NVIDIA driver installed?",
        )?;
        let (Some(init), Some(count)) = (lib.symbol(c"cuInit"), lib.symbol(c"cuDeviceGetCount"))
        else {
            return Err("the CUDA driver library (libcuda.so.1) lacks cuInit".into());
        };
        // SAFETY: both symbols are the driver API's, with these C signatures
        // (CUresult cuInit(unsigned int), CUresult cuDeviceGetCount(int *)).
        let (init, count): (
            unsafe extern "C" fn(c_uint) -> c_int,
            unsafe extern "C" fn(*mut c_int) -> c_int,
        ) = unsafe { (std::mem::transmute(init), std::mem::transmute(count)) };
        // SAFETY: plain calls with a valid out-pointer.
        let rc = unsafe { init(0) };
        if rc != 0 {
            return Err(explain(rc));
        }
        let mut n: c_int = 0;
        // SAFETY: as above.
        let rc = unsafe { count(&mut n) };
        if rc != 0 {
            return Err(explain(rc));
        }
        Ok(n.max(0) as usize)
    }

    /// One sentence for a `CUresult` from `cuInit`, naming the driver.
    pub fn explain(rc: c_int) -> String {
        let what = match rc {
            34 => "libcuda.so.1 is a stub library, not an NVIDIA driver (CUDA_ERROR_STUB_LIBRARY)",
            35 => "the NVIDIA driver is older than this build's CUDA 13.0 (CUDA_ERROR_INSUFFICIENT_DRIVER)",
            100 => "the CUDA driver found no GPU (CUDA_ERROR_NO_DEVICE)",
            101 => "the CUDA driver rejected the device (CUDA_ERROR_INVALID_DEVICE)",
            3 => "the CUDA driver failed to initialise (CUDA_ERROR_NOT_INITIALIZED)",
            999 => "the CUDA driver failed with an unknown error (CUDA_ERROR_UNKNOWN)",
            _ => "",
        };
        if what.is_empty() {
            format!("the CUDA driver's cuInit failed with CUresult {rc}")
        } else {
            what.to_string()
        }
    }
}

#[cfg(feature = "metal")]
fn open_metal() -> Result<Device, EngineError> {
    Device::new_metal(0).map_err(|e| {
        EngineError::setup(
            "Metal",
            format!(
                "cannot open the Metal device: {}",
                first_line(&e.to_string())
            ),
        )
    })
}

#[cfg(not(feature = "metal"))]
fn open_metal() -> Result<Device, EngineError> {
    Err(EngineError::NotCompiled {
        engine: "Metal",
        feature: "metal",
    })
}

/// Errors from candle's backends can span lines (a driver's error and its context); a
/// setup error stays on one.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_and_prints_it_back() {
        for (s, want) in [
            ("cpu", DeviceSpec::Cpu),
            ("CPU", DeviceSpec::Cpu),
            ("cuda", DeviceSpec::Cuda(0)),
            ("cuda:0", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
            ("metal", DeviceSpec::Metal),
        ] {
            assert_eq!(s.parse::<DeviceSpec>().unwrap(), want, "{s}");
        }
        assert_eq!(DeviceSpec::Cuda(0).to_string(), "cuda:0");
        assert_eq!(DeviceSpec::Cuda(2).to_string(), "cuda:2");
        assert_eq!(DeviceSpec::default(), DeviceSpec::Cpu);
        for spec in [DeviceSpec::Cpu, DeviceSpec::Cuda(5), DeviceSpec::Metal] {
            assert_eq!(spec.to_string().parse::<DeviceSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn rejects_unknown_devices_naming_the_choices() {
        for bad in ["tpu", "cuda:", "cuda:x", "cuda:-1", "", "metal:1"] {
            let e = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(e.contains("cuda:N") && e.contains("metal"), "{bad}: {e}");
        }
    }

    #[test]
    fn serializes_as_the_string() {
        let json = serde_json::to_string(&DeviceSpec::Cuda(1)).unwrap();
        assert_eq!(json, "\"cuda:1\"");
        let back: DeviceSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, DeviceSpec::Cuda(1));
        assert!(serde_json::from_str::<DeviceSpec>("\"npu\"").is_err());
    }

    #[test]
    fn cpu_opens_and_synchronizes() {
        let d = open(&DeviceSpec::Cpu).unwrap();
        assert!(d.is_cpu());
        synchronize(&d).unwrap();
        assert_eq!(spec_of(&d), DeviceSpec::Cpu);
    }

    #[test]
    #[cfg(not(feature = "cuda"))]
    fn cuda_without_the_feature_names_the_feature() {
        let e = open(&DeviceSpec::Cuda(0)).unwrap_err().to_string();
        assert_eq!(
            e,
            "this build has no CUDA support: rebuild with --features cuda"
        );
    }

    #[test]
    #[cfg(feature = "cuda")]
    fn cuda_errors_name_the_driver() {
        for rc in [34, 35, 100, 7] {
            let e = cuda_driver::explain(rc);
            assert!(e.contains("driver"), "{rc}: {e}");
        }
        assert!(cuda_driver::explain(34).contains("stub"));
    }

    #[test]
    #[cfg(not(feature = "metal"))]
    fn metal_without_the_feature_names_the_feature() {
        let e = open(&DeviceSpec::Metal).unwrap_err().to_string();
        assert!(e.contains("--features metal"), "{e}");
    }
}
