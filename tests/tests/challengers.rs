//! Dishonest and silent parties in dispute games, with the real binaries: a challenger that
//! bonds against an honest batch loses its bond to the sequencer and the batch becomes final; a
//! challenger colluding with a dishonest sequencer stays silent and loses, and the honest
//! verifier still wins and removes the bad batch; a silent defender loses to a verifier that
//! was killed mid-game and restarted; a verifier that joins the defence of a correct batch keeps
//! it on L1 when its sequencer stops answering games.

use alloy::primitives::{Address, U256};
use keel_e2e::{transfer, System, CHEATER, ETH, SEQUENCER, VERIFIER};
use keel_l1::{DefenderStatus, GameInfo, GameStatus};

/// A deposit and three transfers from user 1: one batch of four steps when batches close at
/// three transactions.
async fn four_steps(sys: &System, seq: &keel_e2e::Service) {
    sys.deposit_and_wait(seq, 1, ETH).await;
    for nonce in 0..3 {
        sys.submit(seq, 1, transfer(Address::repeat_byte(0x10 + nonce as u8), 1_000, nonce)).await;
    }
    sys.until_batches(1).await;
}

/// Wait until game `id` waits for its challenger at a single step (the challenger must prove).
async fn until_challenger_must_prove(sys: &System, id: u64) -> GameInfo {
    let l1 = sys.l1(SEQUENCER);
    sys.until("the challenger must prove a single step", 60, || async {
        let g = l1.game(id).await.ok()?;
        (g.status == GameStatus::ChallengerTurn && g.hi - g.lo == 1).then_some(g)
    })
    .await
}

#[tokio::test]
async fn a_challenger_of_an_honest_batch_loses_its_bond_and_the_batch_becomes_final() {
    let sys = System::start().await;
    let seq = sys.sequencer(None, 3, 3_000).await;
    let verifier = sys.verifier("verifier", VERIFIER, None).await;
    let _cheater = sys.verifier("cheater", CHEATER, Some("challenge-agreed@0")).await;
    four_steps(&sys, &seq).await;

    // The cheater bonds, the sequencer dissects, the cheater picks a segment it cannot prove.
    let g = until_challenger_must_prove(&sys, 0).await;
    assert_eq!((g.challenger, g.batch_index), (sys.address(CHEATER), 0));
    sys.skip_time(sys.params.move_timeout_secs + 1).await;
    let g = sys.until_game_over(0, 60).await;
    assert_eq!(g.status, GameStatus::AsserterWon, "the challenger timed out");
    assert_eq!(sys.credited_to(sys.address(SEQUENCER)).await, sys.params.challenge_bond_wei);
    assert_eq!(sys.credited_to(sys.address(CHEATER)).await, U256::ZERO, "the bond is lost");
    let l1 = sys.l1(SEQUENCER);
    assert_eq!(
        l1.stake_of(sys.address(SEQUENCER)).await.expect("rpc"),
        sys.params.required_stake_wei,
        "the honest sequencer keeps its stake"
    );
    sys.until_verifier_agrees(&verifier, 1).await;

    sys.skip_time(sys.params.challenge_period_secs + 1).await;
    sys.until("batch 0 is final", 60, || async { l1.is_final(0).await.ok()?.then_some(()) }).await;
    assert_eq!(l1.game_count().await.expect("rpc"), 1, "the honest verifier never challenged");
}

#[tokio::test]
async fn a_silent_colluding_challenger_loses_and_the_honest_one_still_wins() {
    let sys = System::start().await;
    let seq = sys.sequencer(Some("wrong-root@0:last"), 3, 3_000).await;
    let _colluder = sys.verifier("colluder", CHEATER, Some("silent-challenger")).await;
    four_steps(&sys, &seq).await;

    // The colluder challenges first (so honest challengers might think the batch is handled),
    // then never moves, hoping the sequencer wins by timeout and the batch stands.
    let l1 = sys.l1(SEQUENCER);
    sys.until("the colluder challenges and the sequencer dissects", 60, || async {
        let g = l1.game(0).await.ok()?;
        (g.status == GameStatus::ChallengerTurn).then_some(())
    })
    .await;
    sys.skip_time(sys.params.move_timeout_secs + 1).await;
    let g = sys.until_game_over(0, 60).await;
    assert_eq!((g.status, g.challenger), (GameStatus::AsserterWon, sys.address(CHEATER)));
    assert_eq!(sys.credited_to(sys.address(SEQUENCER)).await, sys.params.challenge_bond_wei);
    assert_eq!(l1.batch_count().await.expect("rpc"), 1, "the bad batch still stands");

    // The honest verifier challenges within the period and wins.
    let _verifier = sys.verifier("verifier", VERIFIER, None).await;
    let g = sys.until_game_over(1, 180).await;
    assert_eq!((g.status, g.challenger), (GameStatus::ChallengerWon, sys.address(VERIFIER)));
    // Nobody else defends it: the verifier removes it once the defence window has passed.
    sys.skip_time(sys.params.move_timeout_secs).await;
    sys.until("the bad batch is removed", 60, || async {
        (l1.batch_count().await.ok()? == 0).then_some(())
    })
    .await;
    assert_eq!(l1.stake_of(sys.address(SEQUENCER)).await.expect("rpc"), U256::ZERO, "slashed");
    let share = sys.params.required_stake_wei * U256::from(sys.params.challenger_share_bps)
        / U256::from(10_000);
    let paid = sys.params.challenge_bond_wei + share;
    sys.until("the escrowed reward is settled", 60, || async {
        (sys.credited_to(sys.address(VERIFIER)).await == paid).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_silent_defender_loses_to_a_verifier_killed_mid_game_and_restarted() {
    let sys = System::start().await;
    let seq = sys.sequencer(Some("wrong-root@0:middle,silent-defender"), 3, 3_000).await;
    let mut verifier = sys.verifier("verifier", VERIFIER, None).await;
    four_steps(&sys, &seq).await;
    let l1 = sys.l1(SEQUENCER);
    let g = sys
        .until("the verifier challenges", 60, || async {
            let g = l1.game(0).await.ok()?;
            (g.status == GameStatus::AsserterTurn).then_some(g)
        })
        .await;
    assert_eq!(g.challenger, sys.address(VERIFIER));

    // kill -9 mid-game; the defender stays silent past its deadline; the verifier comes back
    // on the same database, finds its open game and times the asserter out.
    verifier.kill();
    sys.skip_time(sys.params.move_timeout_secs + 1).await;
    assert!(!l1.game(0).await.expect("rpc").is_over(), "nobody has claimed the timeout yet");
    let _verifier = sys.verifier("verifier", VERIFIER, None).await;
    let g = sys.until_game_over(0, 60).await;
    assert_eq!(g.status, GameStatus::ChallengerWon);
    assert_eq!(l1.batch_count().await.expect("rpc"), 0, "the bad batch is removed");
    assert_eq!(l1.stake_of(sys.address(SEQUENCER)).await.expect("rpc"), U256::ZERO, "slashed");
    assert_eq!(l1.game_count().await.expect("rpc"), 1, "one game, resumed, not a second bond");
}

#[tokio::test]
async fn a_verifier_keeps_a_correct_batch_whose_sequencer_stops_defending_it() {
    let sys = System::start().await;
    let seq = sys.sequencer(Some("silent-defender"), 3, 3_000).await;
    let verifier = sys.verifier_with("verifier", VERIFIER, &[("KEEL_DEFEND_AGREED", "true")]).await;
    let _cheater = sys.verifier("cheater", CHEATER, Some("challenge-agreed@0")).await;
    four_steps(&sys, &seq).await;
    sys.until_verifier_agrees(&verifier, 1).await;

    // The cheater challenges the correct batch; the verifier, which agrees with it, bonds to
    // defend it before the silent sequencer can lose it.
    let l1 = sys.l1(SEQUENCER);
    let batch = l1.batch(0).await.expect("rpc");
    sys.until("the verifier joins the defence of batch 0", 60, || async {
        let joined = l1.defender_status(batch.id, sys.address(VERIFIER)).await.ok()?;
        (joined == DefenderStatus::Active).then_some(())
    })
    .await;
    assert_eq!(l1.game(0).await.expect("rpc").challenger, sys.address(CHEATER));

    // The sequencer never answers: the cheater wins its game by timeout, which eliminates the
    // sequencer as a defender, but the batch stays because the verifier still stands.
    sys.skip_time(sys.params.move_timeout_secs + 1).await;
    let g = sys.until_game_over(0, 60).await;
    assert_eq!(g.status, GameStatus::ChallengerWon, "the silent sequencer timed out");
    let defence = l1.defence(batch.id).await.expect("rpc");
    assert!(defence.poster_eliminated);
    assert!(l1.is_current(0, batch.id).await.expect("rpc"), "the correct batch stays");

    // A griefer now challenges the verifier and abandons its game after the first dissection:
    // the verifier plays as the asserter and wins by timeout.
    let griefer = sys.l1(8);
    let game = griefer.challenge(0, sys.address(VERIFIER)).await.expect("challenge the defender");
    sys.until("the verifier dissects", 60, || async {
        let g = l1.game(game).await.ok()?;
        (g.status == GameStatus::ChallengerTurn).then_some(())
    })
    .await;
    sys.skip_time(sys.params.move_timeout_secs + 1).await;
    let g = sys.until_game_over(game, 60).await;
    assert_eq!((g.status, g.asserter), (GameStatus::AsserterWon, sys.address(VERIFIER)));

    // The batch becomes final; the verifier's bond comes back with the griefer's; the sequencer
    // keeps its stake because its batch was never removed.
    sys.skip_time(sys.params.challenge_period_secs + 1).await;
    sys.until("batch 0 is final", 60, || async { l1.is_final(0).await.ok()?.then_some(()) }).await;
    let bond = sys.params.challenge_bond_wei;
    sys.until("the verifier takes its bond back", 60, || async {
        let status = l1.defender_status(batch.id, sys.address(VERIFIER)).await.ok()?;
        (status == DefenderStatus::Released).then_some(())
    })
    .await;
    assert_eq!(sys.credited_to(sys.address(VERIFIER)).await, bond + bond);
    assert_eq!(sys.credited_to(sys.address(CHEATER)).await, bond, "its own bond back only");
    assert_eq!(
        l1.stake_of(sys.address(SEQUENCER)).await.expect("rpc"),
        sys.params.required_stake_wei
    );
}
