//! The simulation's runs: random histories (proptest) and the scenarios
//! that show each guard is needed (the property must fail without it).

use super::*;

pub fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (1i64..=250).prop_map(Event::Advance),
        1 => Just(Event::Rotate { immediate: false }),
        1 => Just(Event::Rotate { immediate: true }),
        1 => (0usize..4).prop_map(Event::Revoke),
        2 => (0usize..2, 0usize..3).prop_map(|(replica, max_ttl)| Event::Restart { replica, max_ttl }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn no_verifier_meets_an_unknown_kid_and_no_key_goes_early(
        events in prop::collection::vec(event(), 1..40),
        jwks_max_age in prop_oneof![Just(10i64), Just(300), Just(3600)],
        phases in [0i64..60, 0i64..60, 0i64..60, 0i64..60],
    ) {
        let mut world = World::with(jwks_max_age, &phases);
        for e in &events {
            world.run(e);
        }
        world.run(&Event::Advance(400));
        prop_assert_eq!(world.violation(), None);
    }
}

#[test]
fn scheduled_rotations_alone_keep_the_invariant_for_a_long_time() {
    let mut world = World::new();
    world.run(&Event::Advance(20 * ROTATE_EVERY));
    assert_eq!(world.violation(), None);
    assert!(world.kids >= 20, "a key per rotation: {}", world.kids);
}

#[test]
fn without_the_shrinking_max_age_a_verifier_misses_the_next_key() {
    let run = |shrink: bool| {
        let mut world = World::with(300, &[0, 0, 0, 0]);
        world.shrink_max_age = shrink;
        world.run(&Event::Advance(3 * ROTATE_EVERY));
        world.violation()
    };
    assert_eq!(run(true), None);
    let missed = run(false).expect("the property must bite when max-age does not shrink");
    assert!(missed.contains("honours max-age"), "{missed}");
}

#[test]
fn an_early_manual_rotation_waits_out_every_cached_jwks() {
    let mut world = World::with(300, &[0, 0, 0, 0]);
    world.run(&Event::Advance(20));
    world.run(&Event::Rotate { immediate: false });
    world.run(&Event::Advance(2 * ROTATE_EVERY + 300));
    assert_eq!(world.violation(), None);
}

#[test]
fn without_recorded_max_ttl_lowering_it_on_restart_strands_tokens() {
    // Replica 0 signs with max_ttl 90, then restarts with 10 and rotates at
    // once: the retired key must outlive the 90 s tokens it signed.
    let scenario = [
        Event::Restart {
            replica: 0,
            max_ttl: 2,
        },
        Event::Restart {
            replica: 1,
            max_ttl: 2,
        },
        Event::Advance(40),
        Event::Restart {
            replica: 0,
            max_ttl: 0,
        },
        Event::Restart {
            replica: 1,
            max_ttl: 0,
        },
        Event::Rotate { immediate: true },
        Event::Advance(200),
    ];
    let mut with = World::new();
    let mut without = World::new();
    without.record_max_ttl = false;
    for e in &scenario {
        with.run(e);
        without.run(e);
    }
    assert_eq!(with.violation(), None);
    assert!(
        without.violation().is_some(),
        "the property must bite when recording is off"
    );
}
