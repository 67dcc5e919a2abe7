//! What the verifier's tasks share with each other and with the API: the chain, what was last
//! seen of L1, and the games being played.

use keel_core::Address;
use parking_lot::{Mutex, RwLock};

use crate::chain::Chain;

/// The latest view of L1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L1View {
    /// The latest L1 block seen.
    pub head_block: u64,
    /// Its timestamp, seconds.
    pub head_timestamp: u64,
    /// The last L1 block derived and stored (`None` before the first round).
    pub scanned_block: Option<u64>,
    /// Its timestamp, seconds.
    pub scanned_timestamp: u64,
}

/// A game this verifier plays, as last read from L1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameSummary {
    /// The game id.
    pub id: u64,
    /// The challenged batch's index.
    pub batch_index: u64,
    /// The challenged batch's id.
    pub batch_id: u64,
    /// `asserterTurn` or `challengerTurn`.
    pub turn: &'static str,
    /// The disputed range's start.
    pub lo: u64,
    /// The disputed range's end.
    pub hi: u64,
    /// When the party to move loses by timeout, L1 seconds.
    pub deadline: u64,
}

/// The games this verifier plays and has played as challenger.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GamesView {
    /// Open games.
    pub open: Vec<GameSummary>,
    /// Games won.
    pub won: u64,
    /// Games lost.
    pub lost: u64,
    /// Games cancelled because another game removed their batch (bond returned).
    pub cancelled: u64,
}

/// State shared by the follower, the challenger and the API.
#[derive(Debug)]
pub struct Shared {
    /// The chain.
    pub chain: RwLock<Chain>,
    /// What was last seen of L1.
    pub l1: Mutex<L1View>,
    /// The games.
    pub games: Mutex<GamesView>,
    /// The account that challenges (`None`: watch only).
    pub account: Option<Address>,
}

impl Shared {
    /// Shared state around `chain`.
    pub fn new(chain: Chain, account: Option<Address>) -> Self {
        Self {
            chain: RwLock::new(chain),
            l1: Mutex::new(L1View::default()),
            games: Mutex::new(GamesView::default()),
            account,
        }
    }
}
