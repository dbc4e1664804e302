//! How a run ended ([`Ending`]), decided from what it recorded: completed, interrupted, or
//! stopped early by `patience`, and which epoch's weights are the model.

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ending {
    /// The last epoch whose checkpoint exists (0: none).
    pub last_epoch: usize,
    /// With `patience`: the epoch of the lowest validation error since the run (re)started, the
    /// first of equals, as burn-train's checkpointing strategy counts.
    pub best_epoch: Option<usize>,
    /// The validation error had not fallen for `patience` epochs, so the run stopped: a
    /// complete run, whose model is the best epoch's.
    pub stopped_early: bool,
    /// Stopped before its last epoch by a request (Ctrl-C, SIGTERM, the dashboard): no model.
    pub interrupted: bool,
}

impl Ending {
    /// Decides how a run of `epochs` epochs ended, from the `(epoch, validation or test error)`
    /// of each epoch it ran (after `resumed_after`, when it resumed), and whether a stop was
    /// requested. A run that ran fewer epochs than planned without reaching its patience was
    /// interrupted even when no request is on record (burn's dashboard resets the interrupter
    /// when it ends).
    pub fn decide(
        epochs: usize,
        patience: Option<usize>,
        resumed_after: Option<usize>,
        errors: &[(usize, f64)],
        stop_requested: bool,
    ) -> Self {
        let last_epoch = errors
            .last()
            .map(|&(epoch, _)| epoch)
            .or(resumed_after)
            .unwrap_or(0);
        let best_epoch = patience.and(
            errors
                .iter()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|&(epoch, _)| epoch),
        );
        let stopped_early = last_epoch < epochs
            && !stop_requested
            && matches!((best_epoch, patience), (Some(best), Some(p)) if last_epoch - best >= p);
        let interrupted = !stopped_early && (stop_requested || last_epoch < epochs);
        Self {
            last_epoch,
            best_epoch,
            stopped_early,
            interrupted,
        }
    }

    /// The epoch whose checkpoint is the model, when it is not the last epoch's weights (the
    /// learner's): the best epoch of a finished run with `patience`.
    pub fn checkpoint_to_load(&self) -> Option<usize> {
        self.best_epoch
            .filter(|&best| best != self.last_epoch && !self.interrupted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(errors: &[f64], first: usize) -> Vec<(usize, f64)> {
        errors
            .iter()
            .enumerate()
            .map(|(i, &e)| (first + i, e))
            .collect()
    }

    #[test]
    fn a_run_of_every_epoch_is_complete_and_its_model_is_the_learners() {
        let ending = Ending::decide(3, None, None, &numbered(&[9.0, 5.0, 6.0], 1), false);
        assert_eq!(
            ending,
            Ending {
                last_epoch: 3,
                best_epoch: None,
                stopped_early: false,
                interrupted: false,
            }
        );
        assert_eq!(ending.checkpoint_to_load(), None);
    }

    #[test]
    fn a_stop_request_or_missing_epochs_mean_interrupted() {
        let signalled = Ending::decide(3, None, None, &numbered(&[9.0], 1), true);
        assert!(signalled.interrupted && !signalled.stopped_early);
        assert_eq!(signalled.last_epoch, 1);
        // The dashboard reset the interrupter: the missing epochs still say it.
        let reset = Ending::decide(3, None, None, &numbered(&[9.0, 5.0], 1), false);
        assert!(reset.interrupted);
        // Stopped before any epoch: nothing to load, no checkpoint.
        let none = Ending::decide(3, Some(2), None, &[], true);
        assert_eq!((none.last_epoch, none.best_epoch), (0, None));
        assert!(none.interrupted);
        assert_eq!(none.checkpoint_to_load(), None);
    }

    #[test]
    fn patience_stops_early_and_the_model_is_the_best_epochs() {
        let ending = Ending::decide(
            10,
            Some(2),
            None,
            &numbered(&[5.0, 3.0, 4.0, 4.0], 1),
            false,
        );
        assert_eq!(
            ending,
            Ending {
                last_epoch: 4,
                best_epoch: Some(2),
                stopped_early: true,
                interrupted: false,
            }
        );
        assert_eq!(ending.checkpoint_to_load(), Some(2));
    }

    #[test]
    fn a_stop_request_before_patience_runs_out_is_an_interruption() {
        let ending = Ending::decide(10, Some(3), None, &numbered(&[5.0, 3.0, 4.0], 1), true);
        assert!(ending.interrupted && !ending.stopped_early);
        assert_eq!(ending.best_epoch, Some(2));
        assert_eq!(
            ending.checkpoint_to_load(),
            None,
            "an interrupted run has no model"
        );
    }

    #[test]
    fn a_best_last_epoch_needs_no_checkpoint_and_ties_go_to_the_first() {
        let last = Ending::decide(3, Some(5), None, &numbered(&[5.0, 4.0, 3.0], 1), false);
        assert_eq!(
            (last.best_epoch, last.checkpoint_to_load()),
            (Some(3), None)
        );
        assert!(!last.interrupted && !last.stopped_early);
        let tie = Ending::decide(3, Some(5), None, &numbered(&[3.0, 3.0, 4.0], 1), false);
        assert_eq!(
            (tie.best_epoch, tie.checkpoint_to_load()),
            (Some(1), Some(1))
        );
    }

    #[test]
    fn a_resumed_run_counts_from_its_checkpoint_and_its_best_since_the_resume() {
        // Resumed after epoch 4 of 6, ran 5 and 6.
        let ending = Ending::decide(6, Some(3), Some(4), &numbered(&[2.0, 2.5], 5), false);
        assert_eq!(ending.last_epoch, 6);
        assert_eq!(ending.best_epoch, Some(5));
        assert!(!ending.interrupted);
        // Resumed and stopped at once: the resumed checkpoint is still the last.
        let stopped = Ending::decide(6, None, Some(4), &[], true);
        assert_eq!(stopped.last_epoch, 4);
        assert!(stopped.interrupted);
    }
}
