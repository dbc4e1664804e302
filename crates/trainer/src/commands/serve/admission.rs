//! Which requests of `POST /api/predict` the server takes on, and when they may decode: the
//! bounds that keep hostile clients from exhausting its memory or starving a drawn digit.
//!
//! A request is **admitted** before its body is read (at most `max_in_flight` at once, more are
//! refused: 503). Once its body is read, it goes to one of two **lanes** by the image's size:
//! a small image (a drawn digit) or JSON keeps its admission and waits for one of the small
//! lane's `max_decodes` slots; a large one moves from the admission to the large images' own
//! queue (`max_in_flight` places, refused when full) and waits for one of the large lane's
//! `max_decodes` slots. A queue of huge images therefore never holds an admission a drawn
//! digit needs, nor a decoding slot of its lane. Everything is released when dropped.

use tokio::sync::{Semaphore, SemaphorePermit};

/// The admission and the two lanes.
#[derive(Debug)]
pub struct Admission {
    /// One permit per request admitted: its body being read, or a small image waiting or being
    /// decoded.
    in_flight: Semaphore,
    /// One permit per large image waiting or being decoded.
    large_queue: Semaphore,
    /// One permit per large image being decoded and classified.
    large_decodes: Semaphore,
    /// The same for small images and JSON.
    small_decodes: Semaphore,
}

/// Why a request was not taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// As many requests as admitted at once are in flight.
    Full,
    /// As many large images as queue at once are waiting or decoding.
    LargeQueueFull,
    /// The server is stopping (a lane was closed).
    Stopping,
}

impl Refusal {
    /// What the client is told (with a 503).
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Full => "too many requests at once; retry in a second",
            Refusal::LargeQueueFull => "too many large images at once; retry in a second",
            Refusal::Stopping => "stopping",
        }
    }
}

/// A request admitted, its body not yet read.
#[derive(Debug)]
pub struct Admitted<'a> {
    admission: &'a Admission,
    permit: SemaphorePermit<'a>,
}

/// A request's turn to decode and classify, held until dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    /// The admission (small) or the place in the large queue (large).
    _place: SemaphorePermit<'a>,
    _decoding: SemaphorePermit<'a>,
}

impl Admission {
    /// `max_in_flight` requests admitted at once (and as many large images queued), and
    /// `max_decodes` decoding at once in each lane.
    pub fn new(max_in_flight: usize, max_decodes: usize) -> Self {
        Self {
            in_flight: Semaphore::new(max_in_flight),
            large_queue: Semaphore::new(max_in_flight),
            large_decodes: Semaphore::new(max_decodes),
            small_decodes: Semaphore::new(max_decodes),
        }
    }

    /// Admits a request before its body is read, or refuses it at once.
    pub fn admit(&self) -> Result<Admitted<'_>, Refusal> {
        let permit = self.in_flight.try_acquire().map_err(|_| Refusal::Full)?;
        Ok(Admitted {
            admission: self,
            permit,
        })
    }
}

impl<'a> Admitted<'a> {
    /// Waits for a decoding slot of the lane of a request whose body is read: `small` for an
    /// image up to [`super::SMALL_PIXELS`] or JSON. A large image gives its admission back
    /// first, for a place in the large queue (refused when that is full).
    pub async fn decode_slot(self, small: bool) -> Result<Slot<'a>, Refusal> {
        let admission = self.admission;
        let (place, lane) = if small {
            (self.permit, &admission.small_decodes)
        } else {
            let queued = admission
                .large_queue
                .try_acquire()
                .map_err(|_| Refusal::LargeQueueFull)?;
            drop(self.permit);
            (queued, &admission.large_decodes)
        };
        let decoding = lane.acquire().await.map_err(|_| Refusal::Stopping)?;
        Ok(Slot {
            _place: place,
            _decoding: decoding,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Whether `future` is still waiting after a moment.
    async fn waits<F: std::future::Future>(future: F) -> bool {
        tokio::time::timeout(Duration::from_millis(50), future)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn admissions_are_bounded_and_given_back_when_dropped() {
        let admission = Admission::new(2, 1);
        let a = admission.admit().unwrap();
        let _b = admission.admit().unwrap();
        assert_eq!(admission.admit().unwrap_err(), Refusal::Full);
        drop(a);
        let c = admission.admit().unwrap();
        let slot = c.decode_slot(true).await.unwrap();
        assert_eq!(
            admission.admit().unwrap_err(),
            Refusal::Full,
            "a small image keeps its admission"
        );
        drop(slot);
        admission.admit().unwrap();
    }

    #[tokio::test]
    async fn large_images_queue_on_their_own_and_never_block_a_small_one() {
        let admission = Admission::new(2, 1);
        // Two large images: the first decodes, the second waits in the large queue; neither
        // holds an admission.
        let first = admission.admit().unwrap().decode_slot(false).await.unwrap();
        let second = admission.admit().unwrap();
        let waiting = second.decode_slot(false);
        tokio::pin!(waiting);
        assert!(
            waits(&mut waiting).await,
            "the large lane's one slot is taken"
        );
        // The queue is full (2 places): a third large image is refused, after its body...
        let third = admission.admit().unwrap();
        assert_eq!(
            third.decode_slot(false).await.unwrap_err(),
            Refusal::LargeQueueFull
        );
        // ...while a drawn digit is admitted and decodes at once in its own lane.
        let small = admission.admit().unwrap();
        assert!(
            !waits(small.decode_slot(true)).await,
            "the small lane is free"
        );
        // The first large image done, the second's turn comes.
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("its turn")
            .unwrap();
        drop(second);
    }
}
