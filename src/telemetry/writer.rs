//! The log writer of `serve`: lines are appended to one in-memory buffer and
//! a background thread writes the buffer to stderr, as one `write(2)` for
//! everything that arrived since its last write, at most every
//! [`FLUSH_EVERY`] under load.
//!
//! A request never waits on the process-wide stderr lock or a system call,
//! and, unlike a channel with one message per line, a busy server does not
//! wake the writer thread once per request: the thread is woken only when it
//! waits on an empty buffer. Nothing is dropped: past [`MAX_BUFFERED`] bytes
//! (stderr slower than the lines) a logging thread waits for the writer.
//! Lines reach stderr at most [`FLUSH_EVERY`] plus one write after they are
//! logged; dropping the [`LogGuard`] writes what is left.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Under load, the writer thread gathers lines this long between writes.
pub const FLUSH_EVERY: Duration = Duration::from_millis(2);
/// Buffered bytes past which logging waits for the writer.
pub const MAX_BUFFERED: usize = 1 << 20;

#[derive(Default)]
struct State {
    lines: Vec<u8>,
    /// The writer thread waits for lines (an empty buffer).
    idle: bool,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Lines arrived, or the writer is closed.
    lines: Condvar,
    /// The writer took the buffer: room again.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves bytes, not broken invariants.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A handle that appends whole lines to the buffer (cheap to clone).
#[derive(Clone)]
pub struct LogWriter {
    shared: Arc<Shared>,
}

/// Keep it until exit: dropping it writes the remaining lines and stops the
/// writer thread.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A writer of lines to `out` with its background thread.
pub fn spawn(mut out: impl Write + Send + 'static) -> (LogWriter, LogGuard) {
    let shared = Arc::new(Shared::default());
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("tokend-log".into())
            .spawn(move || {
                let mut batch = Vec::new();
                loop {
                    let closed = {
                        let mut state = shared.lock();
                        while state.lines.is_empty() && !state.closed {
                            state.idle = true;
                            state = shared.lines.wait(state).unwrap_or_else(|e| e.into_inner());
                        }
                        state.idle = false;
                        std::mem::swap(&mut batch, &mut state.lines);
                        state.closed && state.lines.is_empty()
                    };
                    shared.room.notify_all();
                    // A failing stderr (closed, full disk) cannot be logged.
                    let _ = out.write_all(&batch).and_then(|()| out.flush());
                    batch.clear();
                    if closed {
                        return;
                    }
                    std::thread::sleep(FLUSH_EVERY);
                }
            })
            .expect("start the log writer thread")
    };
    (
        LogWriter {
            shared: shared.clone(),
        },
        LogGuard {
            shared,
            thread: Some(thread),
        },
    )
}

impl LogWriter {
    /// Appends `line` (one or more whole lines).
    pub fn append(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        while state.lines.len() >= MAX_BUFFERED && !state.closed {
            state = self
                .shared
                .room
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        if state.closed {
            // After the guard: straight to stderr (late lines at exit).
            drop(state);
            let _ = std::io::stderr().write_all(line);
            return;
        }
        state.lines.extend_from_slice(line);
        if state.idle {
            state.idle = false;
            self.shared.lines.notify_one();
        }
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.lines.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test reads, counting the writes it gets.
    #[derive(Clone, Default)]
    struct Sink {
        bytes: Arc<Mutex<Vec<u8>>>,
        writes: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_arrives_whole_and_in_order_per_thread_and_batched() {
        let sink = Sink::default();
        let (writer, guard) = spawn(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000 {
                        writer.append(format!("thread {t} line {i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.bytes.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 40_000, "nothing lost at exit");
        for t in 0..4 {
            let mine: Vec<usize> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..10_000).collect::<Vec<_>>());
        }
        let writes = sink.writes.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            writes < 40_000 / 10,
            "lines are written in batches: {writes} writes"
        );
    }

    #[test]
    fn a_lone_line_is_written_without_waiting_for_more() {
        let sink = Sink::default();
        let (writer, _guard) = spawn(sink.clone());
        writer.append(b"only line\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.bytes.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&*sink.bytes.lock().unwrap(), b"only line\n");
    }

    #[test]
    fn a_stuck_output_makes_logging_wait_not_grow_without_bound() {
        /// Blocks every write until told.
        struct Stuck(Arc<(Mutex<bool>, Condvar)>);
        impl Write for Stuck {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                let (open, cv) = &*self.0;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (writer, guard) = spawn(Stuck(gate.clone()));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let logger = {
            let (writer, done) = (writer.clone(), done.clone());
            std::thread::spawn(move || {
                let line = [b'x'; 1024];
                for _ in 0..(4 * MAX_BUFFERED / 1024) {
                    writer.append(&line);
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        // The logger fills the buffer and then waits (it cannot finish
        // 4 MiB into a 1 MiB buffer while the output is stuck).
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while writer.shared.lock().lines.len() < MAX_BUFFERED {
            assert!(std::time::Instant::now() < deadline, "buffer never filled");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!done.load(std::sync::atomic::Ordering::SeqCst));
        assert!(writer.shared.lock().lines.len() < MAX_BUFFERED + 1024);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        logger.join().unwrap();
        assert!(done.load(std::sync::atomic::Ordering::SeqCst));
        drop(guard);
    }
}
