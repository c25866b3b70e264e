//! Shared memory for a batch: an anonymous `memfd` mapped by the parent and
//! opened by workers through `/proc/<parent>/fd/<fd>`. It has no name in any
//! filesystem, so nothing can be left behind: the kernel frees it when the
//! last process holding it exits, whatever way it exits (Ctrl-C included).
//!
//! Layout: `rows x cols` f64 input, then `rows` i64 output labels.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};

use memmap2::MmapMut;

use crate::error::{Error, Result};

pub struct SharedBatch {
    file: File,
    map: MmapMut,
    capacity: usize,
}

/// A worker's mapping of its parent's segment (`peer_path`), at least
/// `bytes` long.
pub fn map_peer(path: &str, bytes: usize) -> Result<MmapMut> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(format!("worker: cannot open shared memory {path}"), e))?;
    // SAFETY: the parent keeps the segment alive and sized while jobs run,
    // and reads a worker's output range only after the worker announced it.
    let map = unsafe { MmapMut::map_mut(&file) }
        .map_err(|e| Error::io("worker: cannot map shared memory", e))?;
    if map.len() < bytes {
        return Err(Error::Runtime(
            "worker: shared memory is smaller than announced".into(),
        ));
    }
    Ok(map)
}

impl SharedBatch {
    /// A segment of `bytes` bytes (at least one page).
    pub fn new(bytes: usize) -> Result<Self> {
        let bytes = bytes.max(4096);
        let name = c"cpuwall-batch";
        // SAFETY: plain syscall; the returned fd is owned by `file` below.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(Error::io(
                "cannot create shared memory (memfd_create)",
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: fd is a fresh, valid descriptor we exclusively own.
        let file = unsafe { File::from_raw_fd(fd) };
        file.set_len(bytes as u64)
            .map_err(|e| Error::io(format!("cannot size shared memory to {bytes} bytes"), e))?;
        // SAFETY: the memfd is private to this pool; workers only write the
        // output range the parent assigned them while the parent waits.
        let map = unsafe { MmapMut::map_mut(&file) }
            .map_err(|e| Error::io("cannot map shared memory", e))?;
        Ok(SharedBatch {
            file,
            map,
            capacity: bytes,
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn bytes_for(rows: usize, cols: usize, outputs: usize) -> usize {
        rows * cols * 8 + rows * outputs * 8
    }

    /// Path by which another process opens this segment.
    pub fn peer_path(&self) -> String {
        format!("/proc/{}/fd/{}", std::process::id(), self.file.as_raw_fd())
    }

    /// Copy a batch in (row-major): one memcpy when the batch is contiguous.
    pub fn write_input(&mut self, x: ndarray::ArrayView2<'_, f64>) {
        let input = view_mut::<f64>(&mut self.map, 0, x.len());
        match x.as_slice() {
            Some(flat) => input.copy_from_slice(flat),
            None => {
                for (slot, v) in input.iter_mut().zip(x.iter()) {
                    *slot = *v;
                }
            }
        }
    }

    /// The whole segment, for callers with their own layout.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }

    /// The output labels of a batch of `rows x cols`.
    pub fn output(&self, rows: usize, cols: usize, outputs: usize) -> &[i64] {
        view::<i64>(&self.map, rows * cols * 8, rows * outputs)
    }
}

/// Numbers that may be read from and written to raw shared memory: every
/// bit pattern is a valid value.
pub trait Plain: Copy + private::Sealed {}
impl Plain for f32 {}
impl Plain for f64 {}
impl Plain for i64 {}
mod private {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for i64 {}
}

/// `n` values of `T` at byte offset `off` of a mapping (aligned by construction).
pub fn view<T: Plain>(map: &[u8], off: usize, n: usize) -> &[T] {
    let bytes = &map[off..off + n * std::mem::size_of::<T>()];
    assert_eq!(
        bytes.as_ptr() as usize % std::mem::align_of::<T>(),
        0,
        "shared memory misaligned"
    );
    // SAFETY: in bounds (sliced above), aligned (checked), and `T: Plain`
    // has no invalid bit patterns.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const T, n) }
}

/// As [`view`], writable.
pub fn view_mut<T: Plain>(map: &mut [u8], off: usize, n: usize) -> &mut [T] {
    let bytes = &mut map[off..off + n * std::mem::size_of::<T>()];
    assert_eq!(
        bytes.as_ptr() as usize % std::mem::align_of::<T>(),
        0,
        "shared memory misaligned"
    );
    // SAFETY: as for `view`; the borrow of `map` is exclusive.
    unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut T, n) }
}
