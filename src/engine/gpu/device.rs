//! The GPU: one wgpu device and queue with the adapter's real limits, the WGSL kernels compiled
//! once, buffers pooled and counted (peak bytes held), and reading results back — a Promise in the
//! browser, a blocking poll natively.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::engine::gpu::{kernels, GpuError};

/// Invocations per workgroup of every kernel (`WORKGROUP` in `shaders/common.wgsl`).
const WORKGROUP: u64 = 64;
/// Dispatches recorded before the commands are handed to the queue.
const DISPATCHES_PER_SUBMIT: usize = 64;

/// A kernel: a WGSL source (without the shared prelude) and its entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Kernel {
    /// The kernel family's WGSL.
    pub(crate) source: &'static str,
    /// The `@compute` function.
    pub(crate) entry: &'static str,
}

/// A storage buffer on the device. Dropped, it returns to the pool for reuse by later
/// commands (recorded commands may still use it, so it is never destroyed mid-run).
pub(crate) struct GpuBuffer {
    buffer: wgpu::Buffer,
    bytes: u64,
    pool: Arc<Pool>,
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        self.pool.free.lock().expect("pool lock").entry(self.bytes).or_default().push(self.buffer.clone());
    }
}

/// Buffers not in use, by size, and the bytes held in all buffers.
#[derive(Default)]
struct Pool {
    free: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
    held: AtomicU64,
}

/// A GPU device ready for the executor.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// What the adapter is, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)".
    pub description: String,
    /// Whether the adapter is a software renderer on the CPU (lavapipe, SwiftShader, a
    /// browser's fallback adapter).
    pub software: bool,
    /// The largest buffer one kernel may bind.
    pub max_binding_bytes: u64,
    pipelines: Mutex<HashMap<Kernel, wgpu::ComputePipeline>>,
    pending: Mutex<Option<(wgpu::CommandEncoder, usize)>>,
    /// The first error the device reported (validation, out of memory, device lost).
    failure: Arc<Mutex<Option<String>>>,
    pool: Arc<Pool>,
    peak: AtomicU64,
}

impl Gpu {
    /// Opens the first adapter that can compute (high performance preferred) with its own
    /// limits; `Ok(None)` when there is no adapter.
    pub(crate) async fn open() -> Result<Option<Gpu>, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        };
        let Ok(adapter) = instance.request_adapter(&options).await else { return Ok(None) };
        let info = adapter.get_info();
        let limits = adapter.limits();
        let descriptor =
            wgpu::DeviceDescriptor { label: Some("medseg"), required_limits: limits.clone(), ..Default::default() };
        let (device, queue) = adapter
            .request_device(&descriptor)
            .await
            .map_err(|e| GpuError::Device(format!("{} refused a device: {e}", info.name)))?;
        let failure = Arc::new(Mutex::new(None));
        let sink = failure.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            // wgpu's messages span lines; the user sees them on one.
            let message = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
            sink.lock().expect("failure lock").get_or_insert(message);
        }));
        let sink = failure.clone();
        device.set_device_lost_callback(move |reason, message| {
            sink.lock().expect("failure lock").get_or_insert_with(|| format!("device lost ({reason:?}): {message}"));
        });
        let max_binding_bytes = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        Ok(Some(Gpu {
            device,
            queue,
            description: describe(&info),
            software: info.device_type == wgpu::DeviceType::Cpu,
            max_binding_bytes,
            pipelines: Mutex::new(HashMap::new()),
            pending: Mutex::new(None),
            failure,
            pool: Arc::new(Pool::default()),
            peak: AtomicU64::new(0),
        }))
    }

    /// The most bytes held in buffers at once since [`Gpu::reset_peak`].
    pub fn peak_bytes(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Starts a new peak measurement from what is held now.
    pub fn reset_peak(&self) {
        self.peak.store(self.pool.held.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Frees the pooled buffers no one uses (after a run, once its commands are submitted).
    pub(crate) fn trim(&self) {
        self.flush();
        let mut free = self.pool.free.lock().expect("pool lock");
        for (bytes, buffers) in free.drain() {
            self.pool.held.fetch_sub(bytes * buffers.len() as u64, Ordering::Relaxed);
            buffers.iter().for_each(wgpu::Buffer::destroy);
        }
    }

    /// Destroys the device, as a driver reset or a lost GPU would: every later command fails
    /// and networks fall back to the CPU.
    pub fn destroy(&self) {
        self.device.destroy();
    }

    /// The first error the device reported, if any.
    pub(crate) fn check(&self) -> Result<(), GpuError> {
        match self.failure.lock().expect("failure lock").as_ref() {
            Some(message) => Err(GpuError::Device(message.clone())),
            None => Ok(()),
        }
    }

    /// A storage buffer of `len` f32 values (contents undefined until written).
    pub(crate) fn buffer(&self, len: usize) -> Result<GpuBuffer, GpuError> {
        self.check()?;
        let bytes = (len.max(1) * 4) as u64;
        if bytes > self.max_binding_bytes {
            return Err(GpuError::TooLarge { bytes, limit: self.max_binding_bytes });
        }
        let reused = self.pool.free.lock().expect("pool lock").get_mut(&bytes).and_then(Vec::pop);
        let buffer = match reused {
            Some(buffer) => buffer,
            None => {
                let held = self.pool.held.fetch_add(bytes, Ordering::Relaxed) + bytes;
                self.peak.fetch_max(held, Ordering::Relaxed);
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: bytes,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            }
        };
        Ok(GpuBuffer { buffer, bytes, pool: self.pool.clone() })
    }

    /// A buffer holding `values`.
    pub(crate) fn upload(&self, values: &[f32]) -> Result<GpuBuffer, GpuError> {
        let buffer = self.buffer(values.len())?;
        self.write(&buffer, values);
        Ok(buffer)
    }

    /// Overwrites the start of `buffer` with `values`, after every command recorded so far.
    pub(crate) fn write(&self, buffer: &GpuBuffer, values: &[f32]) {
        // Queue writes happen before the commands of the next submission: submit the recorded
        // ones first, which may still read what this overwrites.
        self.flush();
        if !values.is_empty() {
            self.queue.write_buffer(&buffer.buffer, 0, bytemuck::cast_slice(values));
        }
    }

    /// Records `kernel` with parameter words `params`, writing `output` and reading `inputs`
    /// (bindings 1, 2, …): over `grid` workgroups when given, else over `params[0]`
    /// invocations (64 per workgroup, the workgroups in a 2D grid).
    pub(crate) fn dispatch(
        &self,
        kernel: Kernel,
        params: &[u32],
        grid: Option<[u32; 3]>,
        output: &GpuBuffer,
        inputs: &[&GpuBuffer],
    ) -> Result<(), GpuError> {
        self.check()?;
        let count = u64::from(params[0]);
        if count == 0 {
            return Ok(());
        }
        let pipeline = self.pipeline(kernel);
        // Written by the queue before the submission that first reads it (a new buffer, so no
        // earlier command can see the write). Not `create_buffer_init`: it panics on a lost device.
        let words = params;
        let params = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: (words.len() * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&params, 0, bytemuck::cast_slice(words));
        let mut entries = vec![
            wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: output.buffer.as_entire_binding() },
        ];
        for (i, input) in inputs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: 2 + i as u32, resource: input.buffer.as_entire_binding() });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let [x, y, z] = match grid {
            Some(grid) => grid,
            None => {
                let groups = count.div_ceil(WORKGROUP);
                let x = groups.min(65535);
                let y = groups.div_ceil(x);
                if y > 65535 {
                    return Err(GpuError::TooLarge { bytes: count * 4, limit: 65535 * 65535 * WORKGROUP * 4 });
                }
                [x as u32, y as u32, 1]
            }
        };
        let mut pending = self.pending.lock().expect("pending lock");
        let (encoder, recorded) = pending.get_or_insert_with(|| (self.encoder(), 0));
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(x, y, z);
        }
        *recorded += 1;
        let full = *recorded >= DISPATCHES_PER_SUBMIT;
        drop(pending);
        if full {
            self.flush();
        }
        Ok(())
    }

    /// Reads the first `len` values of `buffer` back, after every command recorded so far.
    pub(crate) async fn download(&self, buffer: &GpuBuffer, len: usize) -> Result<Vec<f32>, GpuError> {
        self.check()?;
        let bytes = (len * 4) as u64;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut pending = self.pending.lock().expect("pending lock");
            let (encoder, _) = pending.get_or_insert_with(|| (self.encoder(), 0));
            encoder.copy_buffer_to_buffer(&buffer.buffer, 0, &staging, 0, bytes);
        }
        self.flush();
        let slice = staging.slice(..);
        let (sender, receiver) = oneshot();
        slice.map_async(wgpu::MapMode::Read, move |result| sender.send(result));
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Device(format!("waiting for the GPU failed: {e}")))?;
        let mapped = receiver.await;
        self.check()?;
        mapped.map_err(|e| GpuError::Device(format!("reading a result back failed: {e}")))?;
        let values = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| GpuError::Device(format!("reading a result back failed: {e:?}")))?;
            bytemuck::cast_slice::<u8, f32>(&view).to_vec()
        };
        staging.unmap();
        Ok(values)
    }

    /// Hands every recorded command to the queue.
    pub(crate) fn flush(&self) {
        if let Some((encoder, _)) = self.pending.lock().expect("pending lock").take() {
            self.queue.submit([encoder.finish()]);
        }
    }

    fn encoder(&self) -> wgpu::CommandEncoder {
        self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor::default())
    }

    fn pipeline(&self, kernel: Kernel) -> wgpu::ComputePipeline {
        let mut pipelines = self.pipelines.lock().expect("pipelines lock");
        pipelines
            .entry(kernel)
            .or_insert_with(|| {
                let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.entry),
                    source: wgpu::ShaderSource::Wgsl(kernels::wgsl(kernel).into()),
                });
                self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(kernel.entry),
                    layout: None,
                    module: &module,
                    entry_point: Some(kernel.entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .clone()
    }
}

/// The adapter's name and API; browsers often keep the name to themselves.
fn describe(info: &wgpu::AdapterInfo) -> String {
    let name = [&info.name, &info.driver, &info.driver_info].into_iter().find(|s| !s.trim().is_empty());
    let software = if info.device_type == wgpu::DeviceType::Cpu { ", software" } else { "" };
    match name {
        Some(name) => format!("{name} ({:?}{software})", info.backend),
        None => format!("an unnamed {:?} adapter ({:?}{software})", info.device_type, info.backend),
    }
}

/// A one-value channel whose receiving end is a future (the map callback sends).
fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new((None, None)));
    (Sender(slot.clone()), Receiver(slot))
}

type Slot<T> = Arc<Mutex<(Option<T>, Option<Waker>)>>;

struct Sender<T>(Slot<T>);

impl<T> Sender<T> {
    fn send(self, value: T) {
        let mut slot = self.0.lock().expect("oneshot lock");
        slot.0 = Some(value);
        if let Some(waker) = slot.1.take() {
            waker.wake();
        }
    }
}

struct Receiver<T>(Slot<T>);

impl<T> Future for Receiver<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.0.lock().expect("oneshot lock");
        match slot.0.take() {
            Some(value) => Poll::Ready(value),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
