//! Device clocks: CUDA events recorded on candle's own stream, so an engine can report the
//! time the GPU spent on a phase beside the host time (the difference is launch overhead
//! and host work the GPU waits on).
//!
//! Builds without `cuda`, and devices other than CUDA, have no device timer.

use candle_core::Device;

/// Times one stretch of work on a device's stream: [`DeviceTimer::start`] records an event
/// before the work is queued, [`DeviceTimer::stop_ms`] records one after it, waits for it
/// and returns the device time between the two.
pub struct DeviceTimer {
    inner: imp::Timer,
}

impl DeviceTimer {
    /// A timer on the device's stream, or `None` where the device has no event timer (the
    /// CPU, Metal, or a build without `cuda`).
    pub fn for_device(device: &Device) -> Option<DeviceTimer> {
        imp::Timer::new(device).map(|inner| DeviceTimer { inner })
    }

    /// Records the start event on the stream (asynchronously: the host does not wait).
    pub fn start(&mut self) {
        self.inner.start()
    }

    /// Records the stop event, waits for it, and returns the milliseconds the device spent
    /// between the two events. Calling it without [`DeviceTimer::start`] is an error.
    pub fn stop_ms(&mut self) -> Result<f64, String> {
        self.inner.stop_ms()
    }
}

#[cfg(not(feature = "cuda"))]
mod imp {
    use candle_core::Device;

    /// Never constructed: there is no device clock in this build.
    pub enum Timer {}

    impl Timer {
        pub fn new(_device: &Device) -> Option<Timer> {
            None
        }

        pub fn start(&mut self) {
            match *self {}
        }

        pub fn stop_ms(&mut self) -> Result<f64, String> {
            match *self {}
        }
    }
}

#[cfg(feature = "cuda")]
mod imp {
    use std::sync::Arc;

    use candle_core::cuda_backend::cudarc::driver::{sys::CUevent_flags, CudaEvent, CudaStream};
    use candle_core::Device;

    /// Two timing events on candle's stream for the device, made once and re-recorded for
    /// every measurement, so timing a decode step allocates nothing.
    pub struct Timer {
        stream: Arc<CudaStream>,
        start: CudaEvent,
        stop: CudaEvent,
        started: bool,
    }

    impl Timer {
        pub fn new(device: &Device) -> Option<Timer> {
            let stream = device.as_cuda_device().ok()?.cuda_stream();
            let ctx = stream.context().clone();
            // The default flags keep timing on (cudarc's own default turns it off).
            let event = || ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).ok();
            Some(Timer {
                start: event()?,
                stop: event()?,
                stream,
                started: false,
            })
        }

        pub fn start(&mut self) {
            // A failed record shows up as an error from `stop_ms`.
            self.started = self.start.record(&self.stream).is_ok();
        }

        pub fn stop_ms(&mut self) -> Result<f64, String> {
            if !std::mem::take(&mut self.started) {
                return Err("device timer stopped without a successful start".into());
            }
            // `elapsed_ms` waits for both events, so the host blocks here until the device
            // has done everything queued before the stop event.
            self.stop
                .record(&self.stream)
                .and_then(|()| self.start.elapsed_ms(&self.stop))
                .map(f64::from)
                .map_err(|e| format!("CUDA event timing failed: {e}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_has_no_device_timer() {
        assert!(DeviceTimer::for_device(&Device::Cpu).is_none());
    }

    #[test]
    fn a_timer_can_move_with_its_engine_to_another_thread() {
        // Checked when the test builds: it does not compile unless the timer is Send.
        fn send<T: Send>() {}
        send::<DeviceTimer>();
    }
}
