//! The overflow's rules with plain values: order, the QoS 0 drop, the bound, shutdown.

use super::*;

/// A queue of `room` free places: takes messages until full.
fn queue(room: usize) -> (Vec<u32>, usize) {
    (Vec::new(), room)
}

fn send(q: &mut (Vec<u32>, usize)) -> impl FnOnce(u32) -> Result<(), TrySendError<u32>> + '_ {
    move |m| {
        if q.0.len() < q.1 {
            q.0.push(m);
            Ok(())
        } else {
            Err(TrySendError::Full(m))
        }
    }
}

#[test]
fn a_message_goes_straight_to_a_queue_with_room_and_nothing_is_held() {
    let mut o = Overflow::new(10);
    let mut q = queue(2);
    assert_eq!(o.offer(1, false, send(&mut q)), Placed::Queued);
    assert_eq!(o.offer(2, true, send(&mut q)), Placed::Queued);
    assert_eq!((q.0, o.len(), o.high_water()), (vec![1, 2], 0, 0));
}

#[test]
fn once_anything_is_held_later_messages_go_behind_it_even_when_the_queue_has_room() {
    let mut o = Overflow::new(10);
    let mut q = queue(1);
    assert_eq!(o.offer(1, false, send(&mut q)), Placed::Queued);
    assert_eq!(o.offer(2, false, send(&mut q)), Placed::Held);
    // The queue gains room: 3 must still not overtake 2.
    q.1 = 5;
    assert_eq!(o.offer(3, false, send(&mut q)), Placed::Held);
    assert_eq!(q.0, vec![1]);
    let drained: Vec<u32> = std::iter::from_fn(|| o.pop_front()).collect();
    assert_eq!(drained, vec![2, 3]);
    // Empty again: straight to the queue.
    assert_eq!(o.offer(4, false, send(&mut q)), Placed::Queued);
}

#[test]
fn a_qos0_message_is_dropped_when_its_queue_is_full_or_anything_is_held() {
    let mut o = Overflow::new(10);
    let mut q = queue(0);
    assert_eq!(o.offer(1, true, send(&mut q)), Placed::DroppedQos0);
    assert!(o.is_empty(), "a QoS 0 message is never held");
    assert_eq!(o.offer(2, false, send(&mut q)), Placed::Held);
    q.1 = 5;
    assert_eq!(o.offer(3, true, send(&mut q)), Placed::DroppedQos0);
    assert_eq!((o.len(), q.0.len()), (1, 0));
}

#[test]
fn the_bound_is_reached_at_max_messages_and_left_when_one_leaves() {
    let mut o = Overflow::new(3);
    let mut q = queue(0);
    for m in 0..3 {
        assert!(!o.at_bound(), "below the bound at {m}");
        assert_eq!(o.offer(m, false, send(&mut q)), Placed::Held);
    }
    assert!(o.at_bound());
    assert_eq!(o.pop_front(), Some(0));
    assert!(!o.at_bound());
    assert_eq!(o.high_water(), 3);
}

#[test]
fn a_bound_of_zero_still_keeps_the_message_already_read() {
    let mut o = Overflow::new(0);
    assert!(!o.at_bound(), "nothing held: reading goes on");
    assert_eq!(o.offer(7, false, send(&mut queue(0))), Placed::Held);
    assert!(o.at_bound());
}

#[test]
fn a_message_put_back_is_sent_first() {
    let mut o = Overflow::new(5);
    let mut q = queue(0);
    o.offer(1, false, send(&mut q));
    o.offer(2, false, send(&mut q));
    let first = o.pop_front();
    assert_eq!(first, Some(1));
    o.push_front(1);
    assert_eq!(std::iter::from_fn(|| o.pop_front()).collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn a_closed_queue_drops_the_message_and_clear_drops_everything_held() {
    let mut o = Overflow::new(5);
    assert_eq!(o.offer(1, false, |m| Err(TrySendError::Closed(m))), Placed::Closed);
    assert!(o.is_empty());
    o.offer(2, false, send(&mut queue(0)));
    o.offer(3, false, send(&mut queue(0)));
    assert_eq!(o.clear(), 2);
    assert!(o.is_empty() && !o.at_bound());
    assert_eq!(o.high_water(), 2, "the high-water mark survives");
}
