//! SQLite as the job and segment table.
//!
//! Mirrors the DynamoDB layout's guarantees: a job is created once, segment
//! rows are written once, finishing a segment counts it exactly once, and a
//! done or failed job never changes stage again.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;
use vidstega_pipeline::{
    now_ms, Created, Finished, JobRecord, JobStore, OutputRecord, PipelineError, Result, SegmentRecord, Stage,
};

/// A job table in an SQLite file.
pub struct SqliteJobStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteJobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteJobStore")
    }
}

fn db_err(message: &str, e: rusqlite::Error) -> PipelineError {
    let retryable = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    PipelineError::Jobs {
        message: message.to_string(),
        retryable,
        source: Some(Box::new(e)),
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    video_key TEXT NOT NULL,
    envelope_key TEXT NOT NULL,
    output_key TEXT NOT NULL,
    segments_total INTEGER NOT NULL,
    segments_done INTEGER NOT NULL,
    error TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    job_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    frame_start INTEGER NOT NULL,
    frame_end INTEGER NOT NULL,
    bit_start INTEGER NOT NULL,
    bit_end INTEGER NOT NULL,
    done INTEGER NOT NULL,
    millis INTEGER,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS outputs (
    job_id TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    tag TEXT,
    verified INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quotas (
    caller TEXT NOT NULL,
    window_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (caller, window_ms)
);
";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    let stage: String = r.get(1)?;
    Ok(JobRecord {
        job_id: r.get(0)?,
        stage: stage.parse().map_err(|e: String| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
        })?,
        video_key: r.get(2)?,
        envelope_key: r.get(3)?,
        output_key: r.get(4)?,
        segments_total: r.get(5)?,
        segments_done: r.get(6)?,
        error: r.get(7)?,
        created_ms: r.get::<_, i64>(8)? as u64,
        updated_ms: r.get::<_, i64>(9)? as u64,
    })
}

impl SqliteJobStore {
    /// Opens (creating if needed) the table in `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn =
            Connection::open(path).map_err(|e| db_err(&format!("cannot open {}", path.display()), e))?;
        Self::init(conn)
    }

    /// A table in memory (for tests).
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory().map_err(|e| db_err("cannot open an in-memory table", e))?)
    }

    fn init(conn: Connection) -> Result<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| db_err("cannot set the busy timeout", e))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| db_err("cannot enable WAL", e))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| db_err("cannot create the tables", e))?;
        Ok(SqliteJobStore {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

const JOB_COLUMNS: &str = "job_id, stage, video_key, envelope_key, output_key, segments_total, \
                           segments_done, error, created_ms, updated_ms";

impl JobStore for SqliteJobStore {
    fn create_job(&self, job: &JobRecord) -> Result<Created> {
        let conn = self.lock();
        let n = conn
            .execute(
                &format!("INSERT OR IGNORE INTO jobs ({JOB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    job.job_id,
                    job.stage.as_str(),
                    job.video_key,
                    job.envelope_key,
                    job.output_key,
                    job.segments_total,
                    job.segments_done,
                    job.error,
                    job.created_ms as i64,
                    job.updated_ms as i64
                ],
            )
            .map_err(|e| db_err("cannot create the job", e))?;
        if n == 1 {
            return Ok(Created::New);
        }
        drop(conn);
        let existing = self.job(&job.job_id)?.ok_or_else(|| PipelineError::Jobs {
            message: format!("job {} vanished while being created", job.job_id),
            retryable: true,
            source: None,
        })?;
        Ok(Created::Existing(existing))
    }

    fn job(&self, job_id: &str) -> Result<Option<JobRecord>> {
        self.lock()
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?1"),
                [job_id],
                job_from_row,
            )
            .optional()
            .map_err(|e| db_err("cannot read the job", e))
    }

    fn put_segments(&self, job_id: &str, segments: &[SegmentRecord]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction()
            .map_err(|e| db_err("cannot start a transaction", e))?;
        for s in segments {
            let existing: Option<(i64, i64, i64, i64)> = tx
                .query_row(
                    "SELECT frame_start, frame_end, bit_start, bit_end FROM segments WHERE job_id = ?1 AND idx = ?2",
                    params![job_id, s.index],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(|e| db_err("cannot read a segment", e))?;
            match existing {
                Some(row) => {
                    let want = (
                        s.frame_start as i64,
                        s.frame_end as i64,
                        s.bit_start as i64,
                        s.bit_end as i64,
                    );
                    if row != want {
                        return Err(PipelineError::Conflict(format!(
                            "job {job_id} already has a different segment {}",
                            s.index
                        )));
                    }
                }
                None => {
                    tx.execute(
                        "INSERT INTO segments (job_id, idx, frame_start, frame_end, bit_start, bit_end, done, millis) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, NULL)",
                        params![
                            job_id,
                            s.index,
                            s.frame_start as i64,
                            s.frame_end as i64,
                            s.bit_start as i64,
                            s.bit_end as i64
                        ],
                    )
                    .map_err(|e| db_err("cannot write a segment", e))?;
                }
            }
        }
        let n = tx
            .execute(
                "UPDATE jobs SET segments_total = ?2, \
                 stage = CASE WHEN stage = 'queued' THEN 'embedding' ELSE stage END, updated_ms = ?3 \
                 WHERE job_id = ?1",
                params![job_id, segments.len() as u32, now_ms() as i64],
            )
            .map_err(|e| db_err("cannot update the job", e))?;
        if n == 0 {
            return Err(PipelineError::Conflict(format!("job {job_id} does not exist")));
        }
        tx.commit().map_err(|e| db_err("cannot commit the plan", e))
    }

    fn segments(&self, job_id: &str) -> Result<Vec<SegmentRecord>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT idx, frame_start, frame_end, bit_start, bit_end, done, millis FROM segments \
                 WHERE job_id = ?1 ORDER BY idx",
            )
            .map_err(|e| db_err("cannot read segments", e))?;
        let rows = stmt
            .query_map([job_id], |r| {
                Ok(SegmentRecord {
                    index: r.get(0)?,
                    frame_start: r.get::<_, i64>(1)? as u64,
                    frame_end: r.get::<_, i64>(2)? as u64,
                    bit_start: r.get::<_, i64>(3)? as u64,
                    bit_end: r.get::<_, i64>(4)? as u64,
                    done: r.get::<_, i64>(5)? != 0,
                    millis: r.get::<_, Option<i64>>(6)?.map(|m| m as u64),
                })
            })
            .map_err(|e| db_err("cannot read segments", e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| db_err("cannot read segments", e))
    }

    fn finish_segment(&self, job_id: &str, index: u32, millis: u64) -> Result<Finished> {
        let mut conn = self.lock();
        let tx = conn
            .transaction()
            .map_err(|e| db_err("cannot start a transaction", e))?;
        let n = tx
            .execute(
                "UPDATE segments SET done = 1, millis = ?3 WHERE job_id = ?1 AND idx = ?2 AND done = 0",
                params![job_id, index, millis as i64],
            )
            .map_err(|e| db_err("cannot mark the segment done", e))?;
        if n == 0 {
            let exists: bool = tx
                .query_row(
                    "SELECT COUNT(*) FROM segments WHERE job_id = ?1 AND idx = ?2",
                    params![job_id, index],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(|e| db_err("cannot read the segment", e))?
                > 0;
            if !exists {
                return Err(PipelineError::Conflict(format!(
                    "job {job_id} has no segment {index}"
                )));
            }
            return Ok(Finished::Already);
        }
        let done: u32 = tx
            .query_row(
                "UPDATE jobs SET segments_done = segments_done + 1, updated_ms = ?2 WHERE job_id = ?1 \
                 RETURNING segments_done",
                params![job_id, now_ms() as i64],
                |r| r.get(0),
            )
            .map_err(|e| db_err("cannot count the segment", e))?;
        tx.commit().map_err(|e| db_err("cannot commit the segment", e))?;
        Ok(Finished::Now { done })
    }

    fn take_quota(&self, caller: &str, window_start_ms: u64, limit: u32) -> Result<bool> {
        if limit == 0 {
            return Ok(false);
        }
        let conn = self.lock();
        let n = conn
            .execute(
                "INSERT INTO quotas (caller, window_ms, count) VALUES (?1, ?2, 1) \
                 ON CONFLICT (caller, window_ms) DO UPDATE SET count = count + 1 WHERE count < ?3",
                params![caller, window_start_ms as i64, limit as i64],
            )
            .map_err(|e| db_err("cannot count the caller's quota", e))?;
        Ok(n == 1)
    }

    fn idle_jobs(&self, idle_since_ms: u64) -> Result<Vec<JobRecord>> {
        let conn = self.lock();
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE stage NOT IN ('done', 'failed') AND updated_ms < ?1 \
             ORDER BY updated_ms"
        );
        let mut stmt = conn
            .prepare(&sql)
            .map_err(|e| db_err("cannot list idle jobs", e))?;
        let rows = stmt
            .query_map([idle_since_ms as i64], job_from_row)
            .map_err(|e| db_err("cannot list idle jobs", e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| db_err("cannot read an idle job", e))
    }

    fn set_stage(&self, job_id: &str, stage: Stage, error: Option<&str>) -> Result<()> {
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE jobs SET stage = ?2, error = COALESCE(?3, error), updated_ms = ?4 \
                 WHERE job_id = ?1 AND stage NOT IN ('done', 'failed')",
                params![job_id, stage.as_str(), error, now_ms() as i64],
            )
            .map_err(|e| db_err("cannot update the job", e))?;
        if n == 0 {
            let exists = conn
                .query_row("SELECT 1 FROM jobs WHERE job_id = ?1", [job_id], |_| Ok(()))
                .optional()
                .map_err(|e| db_err("cannot read the job", e))?
                .is_some();
            if !exists {
                return Err(PipelineError::Conflict(format!("job {job_id} does not exist")));
            }
        }
        Ok(())
    }

    fn record_output(&self, job_id: &str, output: &OutputRecord) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction()
            .map_err(|e| db_err("cannot record the output", e))?;
        let stage: Option<String> = tx
            .query_row("SELECT stage FROM jobs WHERE job_id = ?1", [job_id], |r| r.get(0))
            .optional()
            .map_err(|e| db_err("cannot read the job", e))?;
        match stage.as_deref() {
            None => return Err(PipelineError::Conflict(format!("job {job_id} does not exist"))),
            Some(s @ ("done" | "failed")) => {
                return Err(PipelineError::Conflict(format!(
                    "job {job_id} is {s}: its output record does not change"
                )))
            }
            Some(_) => {}
        }
        tx.execute(
            "INSERT OR REPLACE INTO outputs (job_id, key, bytes, tag, verified) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                job_id,
                output.key,
                output.bytes as i64,
                output.tag,
                output.verified
            ],
        )
        .map_err(|e| db_err("cannot record the output", e))?;
        tx.execute(
            "UPDATE jobs SET updated_ms = ?2 WHERE job_id = ?1",
            params![job_id, now_ms() as i64],
        )
        .map_err(|e| db_err("cannot record the output", e))?;
        tx.commit().map_err(|e| db_err("cannot record the output", e))
    }

    fn output(&self, job_id: &str) -> Result<Option<OutputRecord>> {
        self.lock()
            .query_row(
                "SELECT key, bytes, tag, verified FROM outputs WHERE job_id = ?1",
                [job_id],
                |r| {
                    Ok(OutputRecord {
                        key: r.get(0)?,
                        bytes: r.get::<_, i64>(1)? as u64,
                        tag: r.get(2)?,
                        verified: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| db_err("cannot read the output record", e))
    }
}
