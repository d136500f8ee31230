//! `Queue::pause`, `resume` and `obliterate`.

use super::Queue;
use crate::Result;
use crate::scripts::{ObliterateStep, PauseAction, SCRIPTS};

/// Jobs deleted per obliterate call, so that Redis is never blocked for long.
const OBLITERATE_JOBS_PER_CALL: u32 = 1000;

impl Queue {
    /// Pauses the queue: workers take no more jobs until [`Queue::resume`]; adds go on.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn pause(&self) -> Result<()> {
        SCRIPTS
            .pause
            .call(
                &mut self.connection(),
                self.keys(),
                self.major(),
                PauseAction::Pause,
            )
            .await
    }

    /// Resumes a paused queue and wakes idle workers.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn resume(&self) -> Result<()> {
        SCRIPTS
            .pause
            .call(
                &mut self.connection(),
                self.keys(),
                self.major(),
                PauseAction::Resume,
            )
            .await
    }

    /// Deletes the queue and all its jobs, refusing while jobs are active. It pauses the
    /// queue first, as BullMQ does, and deletes in bounded steps.
    ///
    /// # Errors
    /// [`crate::Error::Script`] with [`crate::ScriptError::ActiveJobs`] while workers hold
    /// jobs (the queue then stays paused), [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn obliterate(&self) -> Result<()> {
        self.obliterate_with(false).await
    }

    /// Deletes the queue and all its jobs, active ones included.
    ///
    /// # Errors
    /// [`crate::Error::Redis`] when Redis cannot be reached.
    pub async fn force_obliterate(&self) -> Result<()> {
        self.obliterate_with(true).await
    }

    async fn obliterate_with(&self, force: bool) -> Result<()> {
        self.pause().await?;
        let mut conn = self.connection();
        while SCRIPTS
            .obliterate
            .call(&mut conn, self.keys(), OBLITERATE_JOBS_PER_CALL, force)
            .await?
            == ObliterateStep::MoreToDelete
        {}
        Ok(())
    }
}
