//! Work on untrusted input in a child process under a memory and a time
//! limit: what PDFs need ([`crate::pdf_child`] is the one task), for a PDF
//! can ask for far more than its size: a stream that inflates to gigabytes,
//! forms that draw each other a billion times. hayro has no limits of its
//! own, so the limits are the operating system's: the child (this same
//! program, started again) gets an address-space limit, and the parent
//! kills it at its deadline. What it cannot do ends as an [`ImageProblem`];
//! the parent, its memory and its other work are untouched. This module
//! knows nothing of documents: a task says what the child does.
//!
//! The child can reach nothing but its pipes: it starts with an empty
//! environment (no credentials, no runtime API), closes every descriptor
//! it inherited beyond stdin, stdout and stderr, may open no file and start
//! no process (`RLIMIT_NOFILE`, `RLIMIT_NPROC`, `no_new_privs`), and once
//! it has read its input a seccomp filter lets through only what parsing
//! and drawing in memory need: no `open`, no socket, no `clone`, no
//! `execve`. The parent reads its answer through a bounded reader and
//! checks it against the limits it asked for: a child that was made to
//! misbehave can at most fail its own document.
//!
//! A program that can be its own child calls [`serve_if_child`] first thing
//! in `main` and gets its [`ChildProgram`] back, to hand to whatever starts
//! children; a test harness names such a program with [`ChildProgram::new`].
//! Nothing is registered globally.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};

use crate::ImageProblem;

/// Set in the child's environment: the one thing that makes a start of
/// this program a drawing child.
const CHILD_VARIABLE: &str = "OCR_DOCUMENT_SANDBOX_CHILD";
/// The child's address-space limit, in bytes (set in its environment so
/// that it applies before the child reads anything).
const MEMORY_VARIABLE: &str = "OCR_DOCUMENT_SANDBOX_MEMORY";
/// The child's failure text is read up to this.
const MAX_STDERR_BYTES: u64 = 8 * 1024;
/// The answer's JSON line is read up to this: a page's text layer at its
/// cap of glyphs is a few megabytes.
const MAX_ANSWER_BYTES: u64 = 32 << 20;
/// The child's exit code when it could not confine itself: the fault is
/// the host's, not the document's.
const UNCONFINED_EXIT: i32 = 4;

/// How much a child may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confinement {
    /// The child's address space (not only what it touches: mappings of the
    /// program itself count too).
    pub memory_bytes: u64,
    pub time: Duration,
}

/// What a program that says nothing of its own gets: each function says
/// what fits its memory and timeout (`platform::config`).
impl Default for Confinement {
    fn default() -> Self {
        Self { memory_bytes: 1 << 30, time: Duration::from_secs(10) }
    }
}

/// A program that serves as its own confined child: it calls
/// [`serve_if_child`] first thing in `main`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildProgram(&'static Path);

impl ChildProgram {
    /// Names `program`, which must call [`serve_if_child`] first thing (a
    /// test harness names the runner's binary). The path lives as long as
    /// the process: name a program once.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self(Box::leak(program.into().into_boxed_path()))
    }

    pub fn path(&self) -> &'static Path {
        self.0
    }
}

/// What a confined child does: sent to it as a JSON line followed by its
/// input; it answers with a JSON line followed by a payload (a drawn page's
/// pixels).
pub trait ChildTask: Serialize + DeserializeOwned {
    type Answer: Serialize + DeserializeOwned;

    /// In the child, confined: the answer and the payload that follows it.
    fn run(self, input: &[u8]) -> (Self::Answer, Vec<u8>);
}

/// In `main`, before anything else: in a child, does the task of type `T`
/// asked on stdin and exits; otherwise returns this program, which can be
/// its own child (`None` if the system cannot say where it is).
pub fn serve_if_child<T: ChildTask>() -> Option<ChildProgram> {
    if std::env::var_os(CHILD_VARIABLE).is_none() {
        return std::env::current_exe().ok().map(ChildProgram::new);
    }
    std::process::exit(child::main::<T>());
}

/// A child's answer and the payload that followed it, or why there is none.
pub type Answered<A> = Result<(A, Vec<u8>), ImageProblem>;

/// What the parent asks of the child.
#[derive(Debug, Serialize, Deserialize)]
enum Request<T> {
    Task(T),
    /// What the child can reach, confined as for a task.
    Probe,
}

/// The child's answer, followed by the task's payload.
#[derive(Debug, Serialize, Deserialize)]
enum Reply<A> {
    Done(A),
    Probed(Reach),
}

/// What a confined child could reach when it tried (see [`probe`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reach {
    /// The names of the variables in its environment.
    pub environment: Vec<String>,
    /// Descriptors open beyond stdin, stdout and stderr.
    pub descriptors: Vec<i32>,
    pub no_new_privileges: bool,
    /// Whether the syscall filter was in force.
    pub filtered: bool,
    pub opened_a_file: bool,
    pub opened_a_socket: bool,
    pub started_a_process: bool,
}

impl Reach {
    /// Whether the child can reach nothing but its pipes.
    pub fn is_confined(&self) -> bool {
        let allowed = [CHILD_VARIABLE, MEMORY_VARIABLE];
        self.environment.iter().all(|name| allowed.contains(&name.as_str()))
            && self.descriptors.is_empty()
            && self.no_new_privileges
            && self.filtered
            && !self.opened_a_file
            && !self.opened_a_socket
            && !self.started_a_process
    }
}

/// How a child's run went, for tests and benches.
#[derive(Debug, Clone, Copy)]
pub struct ChildRun {
    pub elapsed: Duration,
    /// The child's peak resident memory, sampled while it ran (see
    /// `OwnPeak`): its own, short of what it took in the last 2 ms.
    pub peak_rss_bytes: u64,
}

/// Runs `task` on `input` in a confined child of `program`, whose payload
/// may be up to `max_payload` bytes; says what the child took (tests and
/// benches hold the limits to account). `what` ends the failure's
/// sentence: "the PDF could not be {what}".
pub fn run<T: ChildTask>(
    program: ChildProgram,
    task: T,
    input: &[u8],
    max_payload: u64,
    confinement: Confinement,
    what: &str,
) -> (Answered<T::Answer>, ChildRun) {
    let (reply, run) = ask::<T, T::Answer>(program.path(), &Request::Task(task), input, max_payload, confinement, what);
    let answer = reply.and_then(|(reply, payload)| match reply {
        Reply::Done(answer) => Ok((answer, payload)),
        Reply::Probed(_) => Err(protocol("an answer to another question")),
    });
    (answer, run)
}

/// What a child of `program`, confined as for a task, can reach: for the
/// start-up self-check and the tests.
pub fn probe(program: ChildProgram, confinement: Confinement) -> Result<Reach, ImageProblem> {
    // Any task's child parses a probe; its answer type is never read.
    let (reply, _) = ask::<(), IgnoredAny>(program.path(), &Request::Probe, b"", 0, confinement, "probed");
    match reply?.0 {
        Reply::Probed(reach) => Ok(reach),
        Reply::Done(_) => Err(protocol("an answer to another question")),
    }
}

pub(crate) fn protocol(what: &str) -> ImageProblem {
    ImageProblem::Corrupt(format!("the PDF reader answered with {what}"))
}

/// Runs one request in a child: the request as a JSON line, then the
/// input on stdin; the answer as a JSON line, then at most `max_payload`
/// bytes, on stdout.
fn ask<R: Serialize, A: DeserializeOwned>(
    program: &Path,
    request: &Request<R>,
    bytes: &[u8],
    max_payload: u64,
    confinement: Confinement,
    what: &str,
) -> (Answered<Reply<A>>, ChildRun) {
    use std::sync::atomic::{AtomicBool, Ordering};

    let started = Instant::now();
    let crashed = |why: String| ImageProblem::Corrupt(format!("the PDF could not be {what}: {why}"));
    // Nothing of this process's environment: in Lambda it holds the
    // function's credentials and the runtime API's address.
    let spawned = Command::new(program)
        .env_clear()
        .env(CHILD_VARIABLE, "1")
        .env(MEMORY_VARIABLE, confinement.memory_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let run = ChildRun { elapsed: started.elapsed(), peak_rss_bytes: 0 };
            return (Err(ImageProblem::ReaderUnavailable(format!("it did not start: {e}"))), run);
        }
    };
    let header = serde_json::to_vec(request).expect("a request serializes");
    let (mut stdin, stdout, stderr) =
        (child.stdin.take().expect("piped"), child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let max_answer = MAX_ANSWER_BYTES + max_payload;
    let overflowed = AtomicBool::new(false);
    let (ended, output, failure) = std::thread::scope(|scope| {
        scope.spawn(move || {
            // The child may exit before reading it all: a broken pipe is its
            // answer, read below, not an error here.
            let _ =
                stdin.write_all(&header).and_then(|()| stdin.write_all(b"\n")).and_then(|()| stdin.write_all(bytes));
        });
        let output = scope.spawn(|| {
            let mut output = Vec::new();
            let read = stdout.take(max_answer + 1).read_to_end(&mut output);
            if output.len() as u64 > max_answer {
                overflowed.store(true, Ordering::Relaxed);
            }
            read.map(|_| output)
        });
        let failure = scope.spawn(move || {
            let mut text = String::new();
            let _ = stderr.take(MAX_STDERR_BYTES).read_to_string(&mut text);
            text
        });
        let deadline = started + confinement.time;
        let mut own_peak = OwnPeak::default();
        let ended = loop {
            own_peak.sample(child.id());
            match reap(&child, libc::WNOHANG) {
                Ok(Some((status, peak))) => break Ok((Ok(status), own_peak.or(peak))),
                Ok(None) if overflowed.load(Ordering::Relaxed) => {
                    let peak = own_peak.or(kill_and_reap(&mut child));
                    break Ok((Err(protocol("more than it may")), peak));
                }
                Ok(None) if Instant::now() >= deadline => {
                    let peak = own_peak.or(kill_and_reap(&mut child));
                    let too_long = ImageProblem::TooDemanding(format!(
                        "it takes more than {} s to be {what}",
                        confinement.time.as_secs_f32()
                    ));
                    break Ok((Err(too_long), peak));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                // The child cannot be watched: it is not left running.
                Err(e) => {
                    kill_and_reap(&mut child);
                    break Err(ImageProblem::ReaderUnavailable(format!("it could not be watched: {e}")));
                }
            }
        };
        (ended, output.join(), failure.join().unwrap_or_default())
    });
    let (status, peak_rss_bytes) = match ended {
        Ok(ended) => ended,
        Err(problem) => return (Err(problem), ChildRun { elapsed: started.elapsed(), peak_rss_bytes: 0 }),
    };
    let run = ChildRun { elapsed: started.elapsed(), peak_rss_bytes };
    let answer = status.and_then(|status| {
        if !status.success() {
            return Err(failed_child(status, &failure, confinement, what));
        }
        if overflowed.load(Ordering::Relaxed) {
            return Err(protocol("more than it may"));
        }
        let Ok(Ok(output)) = output else {
            return Err(crashed("its answer could not be read".into()));
        };
        let end = output.iter().position(|&b| b == b'\n').ok_or_else(|| protocol("no answer"))?;
        if end as u64 > MAX_ANSWER_BYTES {
            return Err(protocol("more than it may"));
        }
        let answer = serde_json::from_slice(&output[..end]).map_err(|_| protocol("something unreadable"))?;
        let mut output = output;
        output.drain(..=end);
        Ok((answer, output))
    });
    (answer, run)
}

/// Kills the child and waits for it; its peak resident memory.
fn kill_and_reap(child: &mut std::process::Child) -> u64 {
    let _ = child.kill();
    loop {
        match reap(child, 0) {
            Ok(ended) => return ended.map_or(0, |(_, peak)| peak),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // Reaped already, or not ours: nothing is left running.
            Err(_) => return 0,
        }
    }
}

/// Why a child that did not answer failed.
fn failed_child(status: ExitStatus, stderr: &str, confinement: Confinement, what: &str) -> ImageProblem {
    if status.code() == Some(UNCONFINED_EXIT) {
        let last_line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return ImageProblem::ReaderUnavailable(format!("it could not confine itself: {last_line}"));
    }
    if stderr.contains("memory allocation of") {
        return ImageProblem::TooDemanding(format!(
            "it needs more than {} MB of memory to be {what}",
            confinement.memory_bytes >> 20
        ));
    }
    let last_line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
    tracing::warn!(%status, stderr = last_line, "the PDF reader failed");
    ImageProblem::Corrupt(format!("the PDF could not be {what}: the PDF reader failed ({status})"))
}

/// The child's own peak resident memory, as its `/proc/PID/status` says
/// while it runs (`VmHWM`, the high-water mark of the memory it mapped
/// since its `exec`), sampled each time the parent looks at it. `wait4`'s
/// `ru_maxrss` cannot say it: Linux carries the spawning process's peak
/// into the child's at `exec`, so a worker holding 180 MB of models saw
/// every child "peak" at 180 MB.
#[derive(Default)]
struct OwnPeak(Option<u64>);

impl OwnPeak {
    fn sample(&mut self, pid: u32) {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return };
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        if let Some(kib) = kib {
            self.0 = Some(self.0.unwrap_or(0).max(kib * 1024));
        }
    }

    /// The peak sampled, or (a child gone before it was ever sampled)
    /// `wait4`'s figure, which is at least the child's own.
    fn or(&self, reaped: u64) -> u64 {
        self.0.unwrap_or(reaped)
    }
}

/// The child's exit status and peak resident memory once it has exited
/// (`wait4`: `Child::try_wait` does not say what the child used; the peak
/// includes the parent's, see [`OwnPeak`]).
fn reap(child: &std::process::Child, options: libc::c_int) -> std::io::Result<Option<(ExitStatus, u64)>> {
    use std::os::unix::process::ExitStatusExt;
    let mut status = 0;
    // SAFETY: wait4 writes the status and the usage into the values given.
    let (pid, usage) = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        let pid = libc::wait4(child.id() as libc::pid_t, &mut status, options, &mut usage);
        (pid, usage)
    };
    match pid {
        -1 => Err(std::io::Error::last_os_error()),
        0 => Ok(None),
        _ => Ok(Some((ExitStatus::from_raw(status), (usage.ru_maxrss.max(0) as u64) * 1024))),
    }
}

mod child {
    use super::*;

    /// The child's whole life: confinement first, then the one request,
    /// read whole before the syscall filter closes everything else.
    pub(super) fn main<T: ChildTask>() -> i32 {
        let memory = std::env::var(MEMORY_VARIABLE).ok().and_then(|m| m.parse::<u64>().ok());
        if let Err(e) = confine::process(memory) {
            eprintln!("{e}");
            return UNCONFINED_EXIT;
        }
        let mut input = Vec::new();
        if std::io::stdin().read_to_end(&mut input).is_err() {
            return 2;
        }
        let Some(end) = input.iter().position(|&b| b == b'\n') else {
            return 2;
        };
        let Ok(request) = serde_json::from_slice::<Request<T>>(&input[..end]) else {
            return 2;
        };
        // What only a probe asks, looked at before the filter hides it.
        let unfiltered = matches!(request, Request::Probe)
            .then(|| (confine::open_descriptors(), confine::has_no_new_privileges()))
            .unwrap_or_default();
        if let Err(e) = confine::syscalls() {
            eprintln!("{e}");
            return UNCONFINED_EXIT;
        }
        let input = &input[end + 1..];
        let (reply, payload) = match request {
            Request::Task(task) => {
                let (answer, payload) = task.run(input);
                (Reply::Done(answer), payload)
            }
            Request::Probe => (Reply::Probed(confine::reach(unfiltered.0, unfiltered.1)), Vec::new()),
        };
        let mut out = std::io::stdout().lock();
        let header = serde_json::to_vec(&reply).expect("an answer serializes");
        let written = out.write_all(&header).and_then(|()| out.write_all(b"\n")).and_then(|()| out.write_all(&payload));
        if written.and_then(|()| out.flush()).is_err() { 3 } else { 0 }
    }
}

/// Confinement is Linux's: elsewhere no PDF is read.
#[cfg(not(target_os = "linux"))]
mod confine {
    pub(super) fn process(_: Option<u64>) -> Result<(), String> {
        Err("the PDF reader is confined only on Linux".into())
    }
    pub(super) fn syscalls() -> Result<(), String> {
        Err("the PDF reader is confined only on Linux".into())
    }
    pub(super) fn open_descriptors() -> Vec<i32> {
        Vec::new()
    }
    pub(super) fn has_no_new_privileges() -> bool {
        false
    }
    pub(super) fn reach(_: Vec<i32>, _: bool) -> super::Reach {
        unreachable!("process() refused")
    }
}

/// The operating system's limits on the child.
#[cfg(target_os = "linux")]
mod confine {
    use std::collections::BTreeMap;

    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

    use super::Reach;

    /// Before the input is read: death with the parent, no descriptor but
    /// the three pipes, no new privileges, the address-space limit, no
    /// further descriptors or processes, no core dump.
    pub(super) fn process(memory: Option<u64>) -> Result<(), String> {
        // SAFETY: each call only reads the plain values given.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
                for fd in 3..4096 {
                    libc::close(fd);
                }
            }
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(format!("no_new_privs: {}", std::io::Error::last_os_error()));
            }
        }
        let mut limits = vec![(libc::RLIMIT_NOFILE, 3), (libc::RLIMIT_NPROC, 0), (libc::RLIMIT_CORE, 0)];
        if let Some(bytes) = memory {
            limits.push((libc::RLIMIT_AS, bytes));
        }
        for (resource, value) in limits {
            let limit = libc::rlimit { rlim_cur: value as libc::rlim_t, rlim_max: value as libc::rlim_t };
            // SAFETY: setrlimit reads the limit given.
            if unsafe { libc::setrlimit(resource, &limit) } != 0 {
                return Err(format!("setrlimit({resource}): {}", std::io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    /// The system calls that reading a PDF in memory and answering on
    /// stdout need; every other fails with `EPERM`.
    const ALLOWED: &[libc::c_long] = &[
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_writev,
        libc::SYS_close,
        libc::SYS_brk,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_mprotect,
        libc::SYS_madvise,
        libc::SYS_futex,
        libc::SYS_sched_yield,
        libc::SYS_getrandom,
        libc::SYS_clock_gettime,
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        // abort() after a failed allocation signals itself.
        libc::SYS_getpid,
        libc::SYS_gettid,
        libc::SYS_tgkill,
        libc::SYS_exit,
        libc::SYS_exit_group,
    ];

    /// Once the input is read: only [`ALLOWED`] system calls.
    pub(super) fn syscalls() -> Result<(), String> {
        let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| format!("seccomp: {e}"))?;
        let rules = ALLOWED.iter().map(|&call| (call, Vec::new())).collect::<BTreeMap<_, _>>();
        let filter = SeccompFilter::new(rules, SeccompAction::Errno(libc::EPERM as u32), SeccompAction::Allow, arch)
            .map_err(|e| format!("seccomp: {e}"))?;
        let program: BpfProgram = filter.try_into().map_err(|e| format!("seccomp: {e}"))?;
        seccompiler::apply_filter(&program).map_err(|e| format!("seccomp: {e}"))
    }

    pub(super) fn open_descriptors() -> Vec<i32> {
        // SAFETY: F_GETFD only asks about the descriptor.
        (3..1024).filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0).collect()
    }

    pub(super) fn has_no_new_privileges() -> bool {
        // SAFETY: a query without pointers.
        unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 }
    }

    /// Tries what a parser bug would want, under the filter.
    pub(super) fn reach(descriptors: Vec<i32>, no_new_privileges: bool) -> Reach {
        let opened_a_file = std::fs::File::open("/proc/self/status").is_ok();
        // SAFETY: socket takes plain values; a descriptor it returns is not
        // used (the child exits).
        let opened_a_socket = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) } >= 0;
        // SAFETY: a forked copy exits at once without running anything.
        let started_a_process = match unsafe { libc::fork() } {
            0 => unsafe { libc::_exit(0) },
            pid => pid > 0,
        };
        // The filter answers EPERM to a call it does not allow.
        // SAFETY: getppid is allowed or refused; either way nothing changes.
        let filtered = unsafe { libc::syscall(libc::SYS_getppid) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        Reach {
            environment: std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()).collect(),
            descriptors,
            no_new_privileges,
            filtered,
            opened_a_file,
            opened_a_socket,
            started_a_process,
        }
    }
}
