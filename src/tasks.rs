//! Background tasks with names. A task spawned with `tokio::spawn` that panics is gone
//! without a word until someone awaits its handle, and at shutdown nobody looks at why a
//! handle ended; a named task's panic is logged with its name the moment it happens.

use std::future::Future;

use tokio::task::JoinHandle;

/// Spawns `task` as `name`. The handle ends when the task does; a panic is logged as an
/// error naming the task (and the server goes on without it).
pub fn spawn<F>(name: &'static str, task: F) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let inner = tokio::spawn(task);
    tokio::spawn(async move {
        if let Err(error) = inner.await {
            if error.is_panic() {
                let panic = error.into_panic();
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_string());
                tracing::error!(task = name, "background task panicked: {message}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_panicking_task_ends_its_handle_without_taking_the_caller_down() {
        let handle = super::spawn("doomed", async { panic!("on purpose") });
        assert!(handle.await.is_ok(), "the named handle itself ends cleanly");
        let fine = super::spawn("fine", async {});
        assert!(fine.await.is_ok());
    }
}
