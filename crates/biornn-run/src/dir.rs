//! The run directory: every file name and layout lives here and nowhere else.

use crate::checkpoint::write_sealed;
use biornn_core::Arrays;
use biornn_numerics::npz::write_atomic;
use biornn_numerics::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

const CONFIG: &str = "config.toml";
const METRICS: &str = "metrics.csv";
const CHECKPOINTS: &str = "checkpoints";
const MODEL: &str = "model.npz";
const LOCK: &str = ".lock";

/// A run held by this process (see [`RunDir::lock`]); dropping it lets the run go.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}
const SUMMARY: &str = "summary.json";
const REPORT: &str = "report.html";
const ANALYSIS: &str = "analysis";
const LEGACY_HISTORY: &str = "history.csv";

/// A run directory, created or opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(format!("{}: {e}", path.display()))
}

impl RunDir {
    /// A fresh run directory `<base>/<name>`, adding `-2`, `-3`, ... if it exists, checked to be
    /// writable now rather than after an hour of training.
    pub fn create_unique(base: &Path, name: &str) -> Result<RunDir> {
        let one_component = Path::new(name).components().count() == 1
            && !name.contains(['/', '\\'])
            && name != ".."
            && name != ".";
        if name.is_empty() || !one_component {
            return Err(Error::invalid(
                "name",
                format!("\"{name}\""),
                "allowed: a directory name without separators, . or ..",
            ));
        }
        std::fs::create_dir_all(base)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", base.display())))?;
        let mut dir = base.join(name);
        let mut k = 2;
        while dir.exists() {
            dir = base.join(format!("{name}-{k}"));
            k += 1;
        }
        Self::create_at(&dir)
    }

    /// The run directory `path`, created if missing (it may already hold a run: nothing is removed).
    pub fn create_at(path: &Path) -> Result<RunDir> {
        std::fs::create_dir_all(path.join(CHECKPOINTS)).map_err(|e| {
            Error::new(format!(
                "cannot create run directory {}: {e}",
                path.display()
            ))
        })?;
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// Hold the run: an exclusive lock on `RUN/.lock` for as long as the returned guard lives
    /// (released by the system when the process dies, killed or not). A second process that
    /// would train the same run (a resubmitted Slurm task beside the first) is refused.
    pub fn lock(&self) -> Result<RunLock> {
        let path = self.path.join(LOCK);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
        // a moment's patience: `is_locked` probes hold a shared lock for an instant
        for attempt in 0.. {
            match file.try_lock() {
                Ok(()) => return Ok(RunLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if attempt < 20 => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(Error::new(format!(
                        "{}: another process (or thread) is training this run (it holds {LOCK}); wait for it to end",
                        self.path.display()
                    )))
                }
                // a file system without locks (Lustre mounted noflock, NFS without lockd): the
                // run goes on unguarded rather than not at all
                Err(std::fs::TryLockError::Error(e)) => {
                    eprintln!(
                        "warning: {}: cannot lock ({e}); nothing stops a second process training this run",
                        path.display()
                    );
                    return Ok(RunLock { _file: file });
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// Whether another process holds the run (see [`RunDir::lock`]).
    pub fn is_locked(&self) -> bool {
        let path = self.path.join(LOCK);
        // a shared lock: it conflicts with the trainer's exclusive one, and works on a read-only
        // handle where NFS turns flock into fcntl locks
        match std::fs::File::open(&path) {
            Ok(f) => matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// The run directory `path` for a new run: created if missing, refused if it already holds a
    /// run that started (metrics or checkpoints), which is to be resumed instead. A config alone
    /// (a run that never started) is overwritten.
    pub fn create_fresh(path: &Path) -> Result<RunDir> {
        let run = Self::create_at(path)?;
        if run.has_checkpoint() || run.metrics_path().exists() {
            return Err(Error::new(format!(
                "{} already holds a run: resume it with `biornn train --resume {}`, or choose another directory",
                path.display(),
                path.display()
            )));
        }
        Ok(run)
    }

    /// Whether the run has written a checkpoint (a run killed before its first one has none, and
    /// starts over when resumed).
    pub fn has_checkpoint(&self) -> bool {
        self.checkpoints().is_ok_and(|c| !c.is_empty())
    }

    /// Forget a run that was killed before its first checkpoint (its metrics header; the config
    /// stays, to be rewritten when it starts over), so that it can start over in the same
    /// directory. Refused once a checkpoint exists.
    pub fn clear_unstarted(&self) -> Result<()> {
        if self.has_checkpoint() {
            return Err(Error::new(format!(
                "{}: the run has checkpoints; resume it instead",
                self.path.display()
            )));
        }
        let f = self.metrics_path();
        if f.exists() {
            std::fs::remove_file(&f).map_err(|e| io_err(&f, e))?;
        }
        Ok(())
    }

    /// An existing run directory.
    pub fn open(path: &Path) -> Result<RunDir> {
        if !path.is_dir() {
            return Err(Error::invalid(
                "RUN",
                path.display(),
                "allowed: a run directory (from `biornn train`)",
            ));
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG)
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(METRICS)
    }
    pub fn model_path(&self) -> PathBuf {
        self.path.join(MODEL)
    }
    pub fn summary_path(&self) -> PathBuf {
        self.path.join(SUMMARY)
    }
    pub fn report_path(&self) -> PathBuf {
        self.path.join(REPORT)
    }
    pub fn analysis_dir(&self) -> PathBuf {
        self.path.join(ANALYSIS)
    }
    pub fn checkpoint_path(&self, step: usize) -> PathBuf {
        self.path
            .join(CHECKPOINTS)
            .join(format!("step_{step:08}.npz"))
    }

    pub fn write_config(&self, text: &str) -> Result<()> {
        write_atomic(&self.config_path(), text.as_bytes())
    }

    /// The stored config text; `None` when the run has none.
    pub fn read_config(&self) -> Option<String> {
        std::fs::read_to_string(self.config_path()).ok()
    }

    /// Start `metrics.csv` with its header (the run's columns).
    pub fn start_metrics(&self, columns: &[String]) -> Result<()> {
        write_atomic(
            &self.metrics_path(),
            format!("{}\n", columns.join(",")).as_bytes(),
        )
    }

    /// `metrics.csv` open for appending rows (mirrored into a TensorBoard event file when
    /// [`crate::tensorboard::enable`] has named a directory).
    pub fn metrics_writer(&self) -> Result<MetricsWriter> {
        let path = self.metrics_path();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let events = match crate::tensorboard::dir() {
            Some(dir) => {
                let columns: Vec<String> = self
                    .read_metrics()
                    .lines()
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(String::from)
                    .collect();
                // the run and the folder it is in (seed-1 of r2, 0003 of a sweep): runs that
                // share a name in different folders stay apart
                let part = |p: Option<&Path>| {
                    p.and_then(|p| p.file_name())
                        .map(|n| n.to_string_lossy().to_string())
                };
                let name = match (part(self.path.parent()), part(Some(&self.path))) {
                    (Some(parent), Some(run)) => format!("{parent}/{run}"),
                    (_, run) => run.unwrap_or_else(|| "run".into()),
                };
                Some(crate::tensorboard::EventWriter::create(
                    &dir, &name, columns,
                )?)
            }
            None => None,
        };
        Ok(MetricsWriter { file, path, events })
    }

    /// The text of `metrics.csv` (empty when the run has none yet). Long-term and rule-reversal
    /// runs written before the run layer kept theirs in `history.csv`, with the same columns from
    /// the second on; that is read when there is no `metrics.csv`.
    pub fn read_metrics(&self) -> String {
        std::fs::read_to_string(self.metrics_path())
            .or_else(|_| std::fs::read_to_string(self.path.join(LEGACY_HISTORY)))
            .unwrap_or_default()
    }

    /// Keep the header and the rows up to `step` (the rows a resumed run would otherwise write
    /// twice), and drop a last line cut short by a crash.
    pub fn truncate_metrics(&self, step: usize) -> Result<()> {
        let path = self.metrics_path();
        let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
        // Only newline-terminated lines were written whole.
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        let mut lines = whole.lines();
        let header = lines.next().unwrap_or("");
        let mut kept = format!("{header}\n");
        for line in lines {
            if line
                .split(',')
                .next()
                .and_then(|s| s.parse::<usize>().ok())
                .is_some_and(|s| s <= step)
            {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        write_atomic(&path, kept.as_bytes())
    }

    /// Rewrite `metrics.csv` under `columns`, a superset of its own in the same order: each row's
    /// cells under their columns, empty under the new ones (atomic).
    pub fn widen_metrics(&self, columns: &[String]) -> Result<()> {
        let path = self.metrics_path();
        let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
        let mut lines = text.lines();
        let had: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
        let from: Vec<Option<usize>> = columns
            .iter()
            .map(|c| had.iter().position(|h| h == c))
            .collect();
        let mut out = format!("{}\n", columns.join(","));
        for line in lines {
            let cells: Vec<&str> = line.split(',').collect();
            let row: Vec<&str> = from
                .iter()
                .map(|i| i.and_then(|i| cells.get(i).copied()).unwrap_or(""))
                .collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        write_atomic(&path, out.as_bytes())
    }

    /// Write the checkpoint of `step` (sealed, atomic) and keep only the newest `keep`.
    pub fn save_checkpoint(&self, step: usize, arrays: Arrays, keep: usize) -> Result<()> {
        write_sealed(&self.checkpoint_path(step), arrays)?;
        self.prune_checkpoints(keep);
        Ok(())
    }

    /// The step checkpoints, oldest first (temporary files of interrupted writes left out).
    pub fn checkpoints(&self) -> Result<Vec<PathBuf>> {
        let dir = self.path.join(CHECKPOINTS);
        // only the files this layer writes (`step_<step>.npz`): a user's own file in the folder is
        // neither resumed from nor pruned
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
            .map_err(|e| Error::new(format!("{}: {e}: not a run directory?", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "npz"))
            .filter_map(|p| {
                let step = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_prefix("step_"))
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())?;
                Some((step, p))
            })
            .collect();
        // by step, so that order holds past the zero padding
        files.sort();
        Ok(files.into_iter().map(|(_, p)| p).collect())
    }

    /// The step of the newest checkpoint, by its file name.
    fn newest_checkpoint_step(&self) -> Result<Option<usize>> {
        Ok(self.checkpoints()?.last().and_then(|p| {
            p.file_stem()?
                .to_str()?
                .strip_prefix("step_")?
                .parse::<usize>()
                .ok()
        }))
    }

    /// How far the run got, writing nothing: the later of its newest checkpoint's step and its
    /// final model's (`None` when there is neither, or only a `model.npz` without training state,
    /// as in results kept without weights).
    pub fn final_step(&self) -> Result<Option<usize>> {
        let newest = match self.path.join(CHECKPOINTS).is_dir() {
            true => self.newest_checkpoint_step()?,
            false => None,
        };
        Ok(newest.max(self.model_step()?))
    }

    /// The step of the training state in `model.npz` (`None` without the file, or without
    /// training state in it).
    fn model_step(&self) -> Result<Option<usize>> {
        let model = self.model_path();
        if !model.exists() {
            return Ok(None);
        }
        let arrays = crate::checkpoint::read_checked(&model)?;
        Ok(crate::driver::LoopState::load(&arrays).ok().map(|s| s.step))
    }

    /// Make the final state in `model.npz` the newest checkpoint when it is newer than every
    /// checkpoint, so that a finished run can continue with a larger budget. Returns the step a
    /// resume now starts from: the newer of the two (`None` when there is neither, or only a
    /// `model.npz` without training state, as runs written before the run layer).
    pub fn checkpoint_final_model(&self) -> Result<Option<usize>> {
        let newest = self.newest_checkpoint_step()?;
        let Some(step) = self.model_step()? else {
            return Ok(newest);
        };
        if newest.is_none_or(|s| s < step) {
            let model = self.model_path();
            let bytes = std::fs::read(&model)
                .map_err(|e| Error::new(format!("{}: {e}", model.display())))?;
            write_atomic(&self.checkpoint_path(step), &bytes)?;
        }
        Ok(Some(newest.map_or(step, |c| c.max(step))))
    }

    /// Keep only the newest `keep` step checkpoints.
    pub fn prune_checkpoints(&self, keep: usize) {
        if let Ok(files) = self.checkpoints() {
            if files.len() > keep {
                for f in &files[..files.len() - keep] {
                    let _ = std::fs::remove_file(f);
                }
            }
        }
    }

    /// Load the newest checkpoint that `load` accepts, reporting each one skipped on stderr; the
    /// error names every failure when none is readable.
    pub fn newest_good<T>(&self, mut load: impl FnMut(&Path) -> Result<T>) -> Result<(T, PathBuf)> {
        let files = self.checkpoints()?;
        let mut failures = vec![];
        for path in files.iter().rev() {
            match load(path) {
                Ok(v) => {
                    for f in &failures {
                        eprintln!("warning: {f}; fell back to {}", path.display());
                    }
                    return Ok((v, path.clone()));
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        Err(Error::new(format!(
            "{}: no readable checkpoint to resume from{}",
            self.path.display(),
            if failures.is_empty() {
                String::new()
            } else {
                format!(" ({})", failures.join("; "))
            }
        )))
    }

    /// Write `model.npz` (sealed, atomic), and the same arrays as `model.safetensors` for the
    /// tools that read that format.
    pub fn write_model(&self, arrays: Arrays) -> Result<()> {
        biornn_numerics::tensors::write_safetensors(
            &self.path.join("model.safetensors"),
            &crate::checkpoint::seal(arrays.clone()),
        )?;
        write_sealed(&self.model_path(), arrays)
    }

    pub fn write_summary(&self, json: &str) -> Result<()> {
        write_atomic(&self.summary_path(), json.as_bytes())
    }

    /// Move `summary.json` aside as the run goes on past it (to a larger budget): until the run
    /// finishes again it has not finished, and a summary of where it stood would say it had.
    /// [`RunDir::restore_summary_aside`] puts it back if the run went nowhere.
    pub fn set_summary_aside(&self) -> Result<()> {
        match std::fs::rename(self.summary_path(), self.summary_aside_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::new(format!(
                "{}: {e}",
                self.summary_path().display()
            ))),
            _ => Ok(()),
        }
    }

    /// The summary set aside back in place (nothing when there is none, or a new one).
    pub fn restore_summary_aside(&self) {
        if !self.summary_path().exists() {
            let _ = std::fs::rename(self.summary_aside_path(), self.summary_path());
        }
    }

    /// Forget the summary set aside: the run went on past it.
    pub fn drop_summary_aside(&self) {
        let _ = std::fs::remove_file(self.summary_aside_path());
    }

    fn summary_aside_path(&self) -> PathBuf {
        self.path.join("summary.json.before")
    }

    /// The text of `summary.json`; `None` while the run has not finished.
    pub fn read_summary(&self) -> Option<String> {
        std::fs::read_to_string(self.summary_path()).ok()
    }

    /// The run's final weights, else its newest checkpoint (while it trains).
    pub fn weights_file(&self) -> Result<PathBuf> {
        let model = self.model_path();
        if model.is_file() {
            return Ok(model);
        }
        self.checkpoints()
            .ok()
            .and_then(|mut c| c.pop())
            .ok_or_else(|| {
                Error::new(format!(
                    "{}: no model.npz and no checkpoints",
                    self.path.display()
                ))
            })
    }

    /// Every weights file of the run, the preferred first: `model.npz`, then checkpoints newest first.
    pub fn weights_files(&self) -> Vec<PathBuf> {
        let mut v = vec![];
        let model = self.model_path();
        if model.is_file() {
            v.push(model);
        }
        v.extend(self.checkpoints().unwrap_or_default().into_iter().rev());
        v
    }
}

/// A run directory's weights file, or `path` itself when it is a weights file.
pub fn weights_file(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.is_dir() {
        return Err(Error::new(format!(
            "{}: no such run directory or checkpoint file",
            path.display()
        )));
    }
    RunDir::open(path)?.weights_file()
}

/// The run directory a weights file belongs to: RUN for `RUN/model.npz` and `RUN/checkpoints/*`
/// where RUN has a config, the path resolved as the file system sees it (a checkpoint's name typed
/// inside `checkpoints/`, a link to a run's file); `None` for a file elsewhere.
pub fn run_of_weights_file(file: &Path) -> Option<PathBuf> {
    let file = std::fs::canonicalize(file).ok()?;
    let parent = file.parent()?;
    let dir = if file.file_name()? == MODEL {
        parent
    } else if parent.file_name()? == CHECKPOINTS {
        parent.parent()?
    } else {
        return None;
    };
    dir.join(CONFIG).is_file().then(|| dir.to_path_buf())
}

/// `metrics.csv` open for appending; every row is flushed as it is written, and synced to disk
/// before each checkpoint and the final model ([`MetricsWriter::sync`]), so that after a power loss
/// no checkpoint outlives the rows it continues from.
pub struct MetricsWriter {
    file: File,
    path: PathBuf,
    events: Option<crate::tensorboard::EventWriter>,
}

impl MetricsWriter {
    pub fn row(&mut self, cells: &[String]) -> Result<()> {
        writeln!(self.file, "{}", cells.join(","))?;
        self.file.flush()?;
        if let Some(e) = &mut self.events {
            e.row(cells)?;
        }
        Ok(())
    }

    /// The rows written so far, on disk (once per checkpoint: a sync per row would cost more).
    pub fn sync(&mut self) -> Result<()> {
        self.file.sync_data().map_err(|e| io_err(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::read_checked;

    fn tmp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("biornn-rundir-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_weights_file_names_its_run_only_where_a_run_keeps_it() {
        let base = tmp("weights-home");
        let run = RunDir::create_unique(&base, "r").unwrap();
        std::fs::write(run.config_path(), "seed = 1\n").unwrap();
        run.save_checkpoint(7, Arrays::new(), 3).unwrap();
        std::fs::write(run.model_path(), b"x").unwrap();
        std::fs::write(run.path().join("other.npz"), b"x").unwrap();
        let home = std::fs::canonicalize(run.path()).unwrap();
        assert_eq!(run_of_weights_file(&run.model_path()), Some(home.clone()));
        assert_eq!(run_of_weights_file(&run.checkpoint_path(7)), Some(home));
        // a file beside the config that is not the model, and a missing file, name no run
        assert_eq!(run_of_weights_file(&run.path().join("other.npz")), None);
        assert_eq!(run_of_weights_file(&run.path().join("gone.npz")), None);
        // a model.npz in a folder without a config is no run's
        std::fs::remove_file(run.config_path()).unwrap();
        assert_eq!(run_of_weights_file(&run.model_path()), None);
        std::fs::remove_dir_all(&base).ok();
    }

    /// Widened by hand: each row's cells under their own columns, empty under the new ones.
    #[test]
    fn metrics_widened_keep_each_cell_under_its_column() {
        let base = tmp("widen");
        let run = RunDir::create_unique(&base, "r").unwrap();
        std::fs::write(
            run.metrics_path(),
            "step,a,b,wall_s\n0,1,NaN,0.1\n5,2,,0.2\n",
        )
        .unwrap();
        let columns = ["step", "a", "x", "b", "y", "wall_s"].map(String::from);
        run.widen_metrics(&columns).unwrap();
        assert_eq!(
            std::fs::read_to_string(run.metrics_path()).unwrap(),
            "step,a,x,b,y,wall_s\n0,1,,NaN,,0.1\n5,2,,,,0.2\n"
        );
        std::fs::remove_dir_all(&base).ok();
    }

    #[test]
    fn names_are_unique_checkpoints_pruned_and_metrics_truncated() {
        let base = tmp("a");
        let a = RunDir::create_unique(&base, "r").unwrap();
        let b = RunDir::create_unique(&base, "r").unwrap();
        assert_eq!(a.path(), base.join("r"));
        assert_eq!(b.path(), base.join("r-2"));
        for s in [0, 5, 10, 15] {
            a.save_checkpoint(s, Arrays::new(), 3).unwrap();
        }
        let names: Vec<String> = a
            .checkpoints()
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "step_00000005.npz",
                "step_00000010.npz",
                "step_00000015.npz"
            ]
        );
        assert_eq!(a.weights_file().unwrap(), a.checkpoint_path(15));
        a.start_metrics(&["step".into(), "x".into()]).unwrap();
        let mut w = a.metrics_writer().unwrap();
        for s in [0, 5, 10] {
            w.row(&[s.to_string(), "1".into()]).unwrap();
        }
        std::fs::write(a.metrics_path(), a.read_metrics() + "15,0.").unwrap();
        a.truncate_metrics(5).unwrap();
        assert_eq!(a.read_metrics(), "step,x\n0,1\n5,1\n");
        // a corrupt newest checkpoint is skipped for the next
        std::fs::write(a.checkpoint_path(15), b"junk").unwrap();
        let (v, p) = a.newest_good(|p| read_checked(p).map(|_| 1)).unwrap();
        assert_eq!((v, p), (1, a.checkpoint_path(10)));
        let e = b.newest_good(read_checked).unwrap_err().to_string();
        assert!(e.contains("no readable checkpoint"), "{e}");
        std::fs::remove_dir_all(&base).ok();
    }

    #[test]
    fn a_held_run_is_refused_to_a_second_holder_and_free_after() {
        let base = tmp("lock");
        let a = RunDir::create_unique(&base, "r").unwrap();
        assert!(!a.is_locked());
        // (flock's locks belong to the open file, so a second open in this process conflicts;
        // on NFS, which locks per process, this test would not hold)
        let held = a.lock().unwrap();
        let e = a.lock().unwrap_err().to_string();
        assert!(e.contains("is training this run"), "{e}");
        assert!(a.is_locked());
        drop(held);
        assert!(!a.is_locked());
        a.lock().unwrap();
        std::fs::remove_dir_all(&base).ok();
    }

    #[test]
    fn a_users_own_file_in_the_checkpoint_folder_is_neither_listed_nor_pruned() {
        let base = tmp("own");
        let a = RunDir::create_unique(&base, "r").unwrap();
        a.save_checkpoint(0, Arrays::new(), 2).unwrap();
        let own = a.path().join(CHECKPOINTS).join("best.npz");
        let odd = a.path().join(CHECKPOINTS).join("step_12x.npz");
        std::fs::write(&own, b"mine").unwrap();
        std::fs::write(&odd, b"mine").unwrap();
        for s in [5, 10, 15] {
            a.save_checkpoint(s, Arrays::new(), 2).unwrap();
        }
        assert_eq!(
            a.checkpoints().unwrap(),
            [a.checkpoint_path(10), a.checkpoint_path(15)]
        );
        assert!(own.exists() && odd.exists());
        std::fs::remove_dir_all(&base).ok();
    }
}
