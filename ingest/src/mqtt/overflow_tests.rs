//! The overflow's rules with plain values and a real bounded channel (no runtime needed for
//! `try_send`): order, the QoS 0 drop, the bound, shutdown.

use super::*;

/// What the receiving side has, in order.
fn received(rx: &mut mpsc::Receiver<u32>) -> Vec<u32> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[test]
fn a_message_goes_straight_to_a_queue_with_room_and_nothing_is_held() {
    let mut o = Overflow::new(10);
    let (tx, mut rx) = mpsc::channel(2);
    assert_eq!(o.offer(1, false, &tx), Placed::Queued);
    assert_eq!(o.offer(2, true, &tx), Placed::Queued);
    assert_eq!((received(&mut rx), o.len(), o.high_water()), (vec![1, 2], 0, 0));
}

#[test]
fn once_anything_is_held_later_messages_go_behind_it_even_when_the_queue_has_room() {
    let mut o = Overflow::new(10);
    let (tx, mut rx) = mpsc::channel(1);
    assert_eq!(o.offer(1, false, &tx), Placed::Queued);
    assert_eq!(o.offer(2, false, &tx), Placed::Held);
    // The queue gains room: 3 must still not overtake 2.
    assert_eq!(received(&mut rx), vec![1]);
    assert_eq!(o.offer(3, false, &tx), Placed::Held);
    assert!(received(&mut rx).is_empty());
    let drained: Vec<u32> = std::iter::from_fn(|| o.pop_front()).collect();
    assert_eq!(drained, vec![2, 3]);
    // Empty again: straight to the queue.
    assert_eq!(o.offer(4, false, &tx), Placed::Queued);
    assert_eq!(o.high_water(), 2);
}

#[test]
fn a_qos0_message_is_dropped_when_its_queue_is_full_or_anything_is_held() {
    let mut o = Overflow::new(10);
    let (tx, mut rx) = mpsc::channel(1);
    assert_eq!(o.offer(1, false, &tx), Placed::Queued);
    assert_eq!(o.offer(2, true, &tx), Placed::DroppedQos0);
    assert!(o.is_empty(), "a QoS 0 message is never held");
    assert_eq!(o.offer(3, false, &tx), Placed::Held);
    assert_eq!(received(&mut rx), vec![1]);
    // Room in the queue, but a QoS 1 message is held ahead.
    assert_eq!(o.offer(4, true, &tx), Placed::DroppedQos0);
    assert_eq!((o.len(), received(&mut rx)), (1, vec![]));
}

#[test]
fn the_bound_is_reached_at_max_messages_and_left_when_one_leaves() {
    let mut o = Overflow::new(3);
    let (tx, _rx) = mpsc::channel(1);
    assert_eq!(o.offer(100, false, &tx), Placed::Queued);
    for m in 0..3 {
        assert!(!o.at_bound(), "below the bound at {m}");
        assert_eq!(o.offer(m, false, &tx), Placed::Held);
    }
    assert!(o.at_bound());
    assert_eq!(o.pop_front(), Some(0));
    assert!(!o.at_bound());
    assert_eq!(o.high_water(), 3);
}

#[test]
fn a_bound_of_zero_still_keeps_the_message_already_read() {
    let mut o = Overflow::new(0);
    let (tx, _rx) = mpsc::channel(1);
    assert_eq!(o.offer(1, false, &tx), Placed::Queued);
    assert!(!o.at_bound(), "nothing held: reading goes on");
    assert_eq!(o.offer(7, false, &tx), Placed::Held);
    assert!(o.at_bound());
}

#[test]
fn a_message_put_back_is_sent_first() {
    let mut o = Overflow::new(5);
    let (tx, _rx) = mpsc::channel(1);
    o.offer(0, false, &tx);
    o.offer(1, false, &tx);
    o.offer(2, false, &tx);
    assert_eq!(o.pop_front(), Some(1));
    o.push_front(1);
    assert_eq!(std::iter::from_fn(|| o.pop_front()).collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn a_closed_queue_drops_the_message_and_clear_drops_everything_held() {
    let mut o = Overflow::new(5);
    let (tx, rx) = mpsc::channel(1);
    assert_eq!(o.offer(1, false, &tx), Placed::Queued);
    o.offer(2, false, &tx);
    o.offer(3, false, &tx);
    drop(rx);
    // Held messages keep their place even after the queue closed: the task clears them.
    assert_eq!(o.offer(4, false, &tx), Placed::Held);
    assert_eq!(o.clear(), 3);
    assert!(o.is_empty() && !o.at_bound());
    assert_eq!(o.offer(5, false, &tx), Placed::Closed);
    assert!(o.is_empty(), "nothing held for a closed queue");
    assert_eq!(o.high_water(), 3, "the high-water mark survives");
}
