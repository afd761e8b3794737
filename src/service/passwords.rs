//! Password hashing and checking on a fixed pool of worker threads.
//!
//! Argon2id needs 19 MiB per hash. Run on `spawn_blocking` without a bound, a
//! login flood started hundreds of threads, each allocating its own block in
//! its own glibc arena, and the process went from 38 MB to 6 GB and stayed
//! there. Here a fixed number of long-lived threads (by default one per core,
//! more would only queue on the CPU) each own one preallocated Argon2 memory
//! block reused for every hash, so memory stays flat however hard the flood.
//! Jobs wait in a bounded queue; when it is full the caller is told at once
//! (`Error::Busy`, a 503 with Retry-After) instead of piling up.

use super::{Error, Result};
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Output length of the hashes we make (the argon2 crate's default).
const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;
const SALT_LEN: usize = argon2::RECOMMENDED_SALT_LEN;

enum Task {
    Hash { password: String },
    Verify { password: String, stored: String },
}

enum Answer {
    Hashed(Result<String>),
    Verified(bool),
}

struct Job {
    task: Task,
    reply: oneshot::Sender<Answer>,
}

/// A handle on the pool; clones share it. The workers stop when the last
/// handle is dropped.
#[derive(Clone)]
pub struct PasswordPool {
    jobs: SyncSender<Job>,
}

impl PasswordPool {
    /// Starts `workers` threads (0: one per available core) with room for
    /// `queue` jobs waiting beyond those being worked on.
    pub fn start(workers: usize, queue: usize) -> PasswordPool {
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            workers
        };
        let (jobs, receiver) = sync_channel(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("password-{index}"))
                .spawn(move || work(&receiver));
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password worker");
            }
        }
        // When no worker started, the receiver is dropped here and every job
        // fails at once instead of waiting forever.
        PasswordPool { jobs }
    }

    /// A new argon2id PHC string for `password`.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let task = Task::Hash {
            password: password.to_owned(),
        };
        match self.run(task).await? {
            Answer::Hashed(hashed) => hashed,
            Answer::Verified(_) => Err(Error::Internal("password pool mixed answers".into())),
        }
    }

    /// Whether `password` matches the stored PHC string, in constant time.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<bool> {
        let task = Task::Verify {
            password: password.to_owned(),
            stored: stored.to_owned(),
        };
        match self.run(task).await? {
            Answer::Verified(matches) => Ok(matches),
            Answer::Hashed(_) => Err(Error::Internal("password pool mixed answers".into())),
        }
    }

    async fn run(&self, task: Task) -> Result<Answer> {
        let (reply, answer) = oneshot::channel();
        match self.jobs.try_send(Job { task, reply }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Error::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::Internal("no password worker is running".into()));
            }
        }
        answer
            .await
            .map_err(|_| Error::Internal("password worker stopped".into()))
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    // Allocated on the first job and reused for every later one: the point of
    // the pool. (A server that never checks a password never pays for it.)
    let mut memory: Vec<Block> = Vec::new();
    loop {
        // The lock is held only while waiting for the next job.
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        if memory.is_empty() {
            memory = vec![Block::default(); Params::DEFAULT.block_count()];
        }
        let answer = match &job.task {
            Task::Hash { password } => Answer::Hashed(hash_with(&mut memory, password)),
            Task::Verify { password, stored } => {
                Answer::Verified(verify_with(&mut memory, password, stored))
            }
        };
        // The caller may have gone (client disconnected): nothing to do.
        let _ = job.reply.send(answer);
    }
}

/// Argon2id with the crate's defaults (RFC 9106 second recommendation: 19 MiB,
/// t=2, p=1), the same PHC string `Argon2::default().hash_password` makes.
fn hash_with(memory: &mut [Block], password: &str) -> Result<String> {
    let failed = |e: &dyn std::fmt::Display| Error::Internal(format!("hashing password: {e}"));
    let mut salt = [0u8; SALT_LEN];
    rand::fill(&mut salt);
    let mut output = [0u8; OUTPUT_LEN];
    Argon2::default()
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut output, memory)
        .map_err(|e| failed(&e))?;
    phc_string(&salt, &output).map_err(|e| failed(&e))
}

fn phc_string(salt: &[u8], output: &[u8]) -> std::result::Result<String, String> {
    let hash = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::default().into()),
        params: ParamsString::try_from(&Params::DEFAULT).map_err(|e| e.to_string())?,
        salt: Some(Salt::new(salt).map_err(|e| e.to_string())?),
        hash: Some(Output::new(output).map_err(|e| e.to_string())?),
    };
    Ok(hash.to_string())
}

/// Checks `password` against a stored PHC string with the parameters the
/// string names, so hashes made with other parameters keep working. The
/// comparison is `Output`'s, which is constant-time.
fn verify_with(memory: &mut [Block], password: &str, stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str());
    let version = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from);
    let params = Params::try_from(&hash);
    let (Ok(algorithm), Ok(version), Ok(params)) = (algorithm, version, params) else {
        return false;
    };
    let needed = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut computed = vec![0u8; expected.len()];
    let hashed = if needed <= memory.len() {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut computed, memory)
    } else {
        // A hash stronger than ours (made elsewhere): pay for its memory once.
        argon2.hash_password_into(password.as_bytes(), salt, &mut computed)
    };
    hashed.is_ok() && Output::new(&computed).is_ok_and(|computed| computed == *expected)
}

/// A PHC string with our parameters that no password matches (random salt and
/// output): checking against it costs what checking a real hash costs, which is
/// what makes an unknown username indistinguishable from a wrong password.
pub fn decoy_hash() -> String {
    let mut salt = [0u8; SALT_LEN];
    let mut output = [0u8; OUTPUT_LEN];
    rand::fill(&mut salt);
    rand::fill(&mut output);
    phc_string(&salt, &output).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHasher, PasswordVerifier};

    fn memory() -> Vec<Block> {
        vec![Block::default(); Params::DEFAULT.block_count()]
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_the_argon2_crate_verifies() {
        let hash = hash_with(&mut memory(), "correct horse").expect("hashes");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", hash.as_str())
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", hash.as_str())
                .is_err()
        );
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_verify_here() {
        let stored = Argon2::default()
            .hash_password(b"correct horse")
            .expect("hashes")
            .to_string();
        let mut memory = memory();
        assert!(verify_with(&mut memory, "correct horse", &stored));
        assert!(!verify_with(&mut memory, "correct horsf", &stored));
    }

    #[test]
    fn hashes_with_other_parameters_verify_too() {
        let params = Params::new(32 * 1024, 1, 1, Some(32)).expect("params");
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let stored = argon2
            .hash_password(b"secret words")
            .expect("hashes")
            .to_string();
        let mut memory = memory();
        assert!(verify_with(&mut memory, "secret words", &stored));
        assert!(!verify_with(&mut memory, "other words", &stored));
    }

    #[test]
    fn nothing_matches_the_decoy_or_garbage() {
        let mut memory = memory();
        let decoy = decoy_hash();
        assert!(
            decoy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{decoy}"
        );
        assert!(!verify_with(&mut memory, "anything", &decoy));
        assert!(!verify_with(&mut memory, "anything", "not a hash"));
        assert!(!verify_with(&mut memory, "anything", ""));
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_at_once() {
        let pool = PasswordPool::start(1, 1);
        let stored = decoy_hash();
        let checks = (0..4).map(|_| pool.verify("guess", &stored));
        let answers = futures_util::future::join_all(checks).await;
        assert!(
            answers.iter().any(|a| matches!(a, Err(Error::Busy))),
            "no job was refused"
        );
        assert!(answers.iter().any(|a| matches!(a, Ok(false))));
    }
}
