//! The standard process series (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, …) read from `/proc/self` at each scrape.
//! CPU time is a float counter of seconds: prometheus' own collector rounds it
//! down to whole seconds, so a service that used 0.9 s of CPU showed 0.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, IntGauge};

pub struct ProcessCollector {
    cpu: Counter,
    resident: IntGauge,
    virtual_bytes: IntGauge,
    open_fds: IntGauge,
    max_fds: IntGauge,
    start_time: Gauge,
    threads: IntGauge,
    descs: Vec<Desc>,
}

impl ProcessCollector {
    pub fn new() -> Self {
        let int = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let cpu = Counter::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        )
        .expect("valid metric");
        let start_time = Gauge::new(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )
        .expect("valid metric");
        let collector = Self {
            cpu,
            resident: int(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            ),
            virtual_bytes: int(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            ),
            open_fds: int("process_open_fds", "Number of open file descriptors."),
            max_fds: int(
                "process_max_fds",
                "Maximum number of open file descriptors.",
            ),
            start_time,
            threads: int("process_threads", "Number of OS threads in the process."),
            descs: Vec::new(),
        };
        let mut descs = Vec::new();
        for c in collector.parts() {
            descs.extend(c.desc().into_iter().cloned());
        }
        Self { descs, ..collector }
    }

    fn parts(&self) -> [&dyn Collector; 7] {
        [
            &self.cpu,
            &self.resident,
            &self.virtual_bytes,
            &self.open_fds,
            &self.max_fds,
            &self.start_time,
            &self.threads,
        ]
    }

    #[cfg(target_os = "linux")]
    fn read(&self) {
        let Ok(me) = procfs::process::Process::myself() else {
            return;
        };
        if let Ok(stat) = me.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            let total = (stat.utime + stat.stime) as f64 / ticks;
            let delta = total - self.cpu.get();
            if delta > 0.0 {
                self.cpu.inc_by(delta);
            }
            self.resident
                .set(stat.rss as i64 * procfs::page_size() as i64);
            self.virtual_bytes.set(stat.vsize as i64);
            self.threads.set(stat.num_threads);
            if let Ok(boot) = procfs::boot_time_secs() {
                self.start_time
                    .set(boot as f64 + stat.starttime as f64 / ticks);
            }
        }
        if let Ok(n) = me.fd_count() {
            self.open_fds.set(n as i64);
        }
        if let Ok(limits) = me.limits()
            && let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit
        {
            self.max_fds.set(max as i64);
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn read(&self) {}
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.read();
        self.parts().iter().flat_map(|c| c.collect()).collect()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn cpu_seconds_are_fractional_and_grow() {
        let c = ProcessCollector::new();
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let families = c.collect();
        let cpu = families
            .iter()
            .find(|f| f.name() == "process_cpu_seconds_total")
            .expect("cpu series");
        let value = cpu.get_metric()[0].get_counter().get_value();
        assert!(value > 0.0, "{value}");
        assert!(
            families
                .iter()
                .any(|f| f.name() == "process_resident_memory_bytes")
        );
    }
}
