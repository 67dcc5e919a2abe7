//! L2 transactions: their EIP-712 digests, the fixed 146-byte record that carries them in a
//! batch, strict decoding, and sender recovery with libsecp256k1 (`docs/protocol.md` §2–§3).

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::{sol, SolStruct};
use rayon::prelude::*;
pub use secp256k1::SecretKey;
use secp256k1::{
    ecdsa::{RecoverableSignature, RecoveryId},
    Message, PublicKey, SECP256K1,
};
use serde::{Deserialize, Serialize};

use crate::config::ChainConfig;

/// Length of one record in bytes.
pub const RECORD_LEN: usize = 146;

/// `n / 2` for the secp256k1 group order `n`: the largest `s` a signature may have (EIP-2).
pub const SECP256K1_HALF_N: U256 = U256::from_be_bytes([
    0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
]);

/// The secp256k1 group order `n`.
pub const SECP256K1_N: U256 = U256::from_be_bytes([
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
]);

/// The EIP-712 structs users sign. `sol!` derives their type hashes and struct hashes.
pub mod eip712 {
    use super::sol;

    sol! {
        /// An L2 transfer of `amount` of `token` to `to`, paying `fee` to the fee recipient.
        #[derive(Debug, PartialEq, Eq)]
        struct Transfer { address to; address token; uint128 amount; uint128 fee; uint64 nonce; }
        /// A withdrawal of `amount` of `token` to `recipient` on L1, paying `fee` on L2.
        #[derive(Debug, PartialEq, Eq)]
        struct Withdraw { address recipient; address token; uint128 amount; uint128 fee; uint64 nonce; }
    }
}

/// The two kinds of transaction a user signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxKind {
    /// Move tokens to another L2 account.
    Transfer = 1,
    /// Leave L2: debit here, and append a withdrawal payable on L1.
    Withdraw = 2,
}

impl TxKind {
    /// The kind byte of a record.
    pub const fn byte(self) -> u8 {
        self as u8
    }

    /// The kind for a record's kind byte.
    pub fn from_byte(byte: u8) -> Result<Self, RecordError> {
        match byte {
            1 => Ok(Self::Transfer),
            2 => Ok(Self::Withdraw),
            other => Err(RecordError::UnknownKind(other)),
        }
    }
}

/// The signed fields of a transaction. `to` is the recipient on L2 for a transfer and on L1 for a
/// withdrawal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transaction {
    /// Transfer or withdrawal.
    pub kind: TxKind,
    /// The L2 recipient (transfer) or L1 recipient (withdraw).
    pub to: Address,
    /// The token, by its L1 address; ETH is `address(0)`.
    pub token: Address,
    /// The amount moved, in the token's smallest unit.
    pub amount: u128,
    /// The fee paid to the fee recipient, in the same token and unit.
    pub fee: u128,
    /// The sender's nonce this transaction must match.
    pub nonce: u64,
}

impl Transaction {
    /// Why a wallet or the sequencer's API should refuse to send this transaction although the
    /// STF would apply it, or `None`. Today one case: a recipient of `address(0)`, which no key
    /// controls — a transfer there is lost on L2, a withdrawal there is paid to `address(0)` on
    /// L1, i.e. burned (docs/protocol.md §5.4).
    pub fn refusal(&self) -> Option<&'static str> {
        (self.to == Address::ZERO).then_some(match self.kind {
            TxKind::Transfer => {
                "the recipient is address(0), which no key controls: the amount would be lost"
            }
            TxKind::Withdraw => {
                "the L1 recipient is address(0): the Bridge would pay it there and the amount would be burned"
            }
        })
    }
}

/// A 65-byte `r ‖ s ‖ v` signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    /// `r`, big-endian.
    pub r: B256,
    /// `s`, big-endian.
    pub s: B256,
    /// `v`, 27 or 28 when valid.
    pub v: u8,
}

/// Why bytes are not a valid record or a record's signature does not recover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record is not exactly 146 bytes.
    #[error("a record is {RECORD_LEN} bytes, got {0}")]
    WrongLength(usize),
    /// The kind byte is neither 1 (transfer) nor 2 (withdraw).
    #[error("unknown transaction kind {0} (expected 1 = transfer or 2 = withdraw)")]
    UnknownKind(u8),
    /// `v` is not 27 or 28.
    #[error("signature v must be 27 or 28, got {0}")]
    InvalidV(u8),
    /// `r` is zero or not below the group order.
    #[error("signature r is zero or not below the secp256k1 order")]
    InvalidR,
    /// `s` is zero.
    #[error("signature s is zero")]
    ZeroS,
    /// `s` is above `n/2` (EIP-2 requires the low form).
    #[error("signature s is in the upper half of the curve order (use the low-s form)")]
    HighS,
    /// Public-key recovery failed or gave the zero address.
    #[error("the signature does not recover a public key for this transaction")]
    RecoveryFailed,
}

impl RecordError {
    /// Whether this is a failure of recovery rather than of the record's bytes.
    pub fn is_signature_failure(&self) -> bool {
        matches!(self, Self::RecoveryFailed)
    }
}

/// One transaction as it sits in a batch: exactly 146 bytes, not necessarily well formed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Record(pub [u8; RECORD_LEN]);

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record(0x{})", alloy_primitives::hex::encode(self.0))
    }
}

impl Record {
    /// Lay out a transaction and its signature as a record.
    pub fn encode(tx: &Transaction, sig: &Signature) -> Self {
        let mut b = [0u8; RECORD_LEN];
        b[0] = tx.kind.byte();
        b[1..21].copy_from_slice(tx.to.as_slice());
        b[21..41].copy_from_slice(tx.token.as_slice());
        b[41..57].copy_from_slice(&tx.amount.to_be_bytes());
        b[57..73].copy_from_slice(&tx.fee.to_be_bytes());
        b[73..81].copy_from_slice(&tx.nonce.to_be_bytes());
        b[81..113].copy_from_slice(sig.r.as_slice());
        b[113..145].copy_from_slice(sig.s.as_slice());
        b[145] = sig.v;
        Self(b)
    }

    /// Take a record from a slice that must be exactly 146 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, RecordError> {
        let arr: [u8; RECORD_LEN] =
            bytes.try_into().map_err(|_| RecordError::WrongLength(bytes.len()))?;
        Ok(Self(arr))
    }

    /// The transaction hash: `keccak256(record)`, also its leaf in the batch tx root.
    pub fn hash(&self) -> B256 {
        keccak256(self.0)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; RECORD_LEN] {
        &self.0
    }

    /// Strict decoding: known kind, `v ∈ {27,28}`, `0 < r < n`, `0 < s ≤ n/2`.
    pub fn decode(&self) -> Result<(Transaction, Signature), RecordError> {
        let b = &self.0;
        let kind = TxKind::from_byte(b[0])?;
        let sig = Signature {
            r: B256::from_slice(&b[81..113]),
            s: B256::from_slice(&b[113..145]),
            v: b[145],
        };
        check_signature_form(&sig)?;
        let tx = Transaction {
            kind,
            to: Address::from_slice(&b[1..21]),
            token: Address::from_slice(&b[21..41]),
            amount: u128::from_be_bytes(b[41..57].try_into().expect("16-byte slice")),
            fee: u128::from_be_bytes(b[57..73].try_into().expect("16-byte slice")),
            nonce: u64::from_be_bytes(b[73..81].try_into().expect("8-byte slice")),
        };
        Ok((tx, sig))
    }
}

/// Split a batch's concatenated records into records.
pub fn split_records(bytes: &[u8]) -> Result<Vec<Record>, RecordError> {
    if bytes.len() % RECORD_LEN != 0 {
        return Err(RecordError::WrongLength(bytes.len() % RECORD_LEN));
    }
    Ok(bytes
        .chunks_exact(RECORD_LEN)
        .map(|c| Record(c.try_into().expect("chunk of RECORD_LEN")))
        .collect())
}

/// The signature-shape rules that do not need the curve: `v`, the ranges of `r` and `s`.
pub fn check_signature_form(sig: &Signature) -> Result<(), RecordError> {
    if sig.v != 27 && sig.v != 28 {
        return Err(RecordError::InvalidV(sig.v));
    }
    let r = U256::from_be_bytes(sig.r.0);
    if r.is_zero() || r >= SECP256K1_N {
        return Err(RecordError::InvalidR);
    }
    let s = U256::from_be_bytes(sig.s.0);
    if s.is_zero() {
        return Err(RecordError::ZeroS);
    }
    if s > SECP256K1_HALF_N {
        return Err(RecordError::HighS);
    }
    Ok(())
}

/// The EIP-712 domain of one chain, with its separator computed once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    config: ChainConfig,
    separator: B256,
}

impl Domain {
    /// The domain of a chain configuration.
    pub fn new(config: ChainConfig) -> Self {
        Self { config, separator: config.domain_separator() }
    }

    /// The chain configuration.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The domain separator.
    pub fn separator(&self) -> B256 {
        self.separator
    }

    /// The EIP-712 struct hash of a transaction.
    pub fn struct_hash(tx: &Transaction) -> B256 {
        match tx.kind {
            TxKind::Transfer => eip712::Transfer {
                to: tx.to,
                token: tx.token,
                amount: tx.amount,
                fee: tx.fee,
                nonce: tx.nonce,
            }
            .eip712_hash_struct(),
            TxKind::Withdraw => eip712::Withdraw {
                recipient: tx.to,
                token: tx.token,
                amount: tx.amount,
                fee: tx.fee,
                nonce: tx.nonce,
            }
            .eip712_hash_struct(),
        }
    }

    /// The digest a wallet signs: `keccak256(0x1901 ‖ separator ‖ structHash)`.
    pub fn digest(&self, tx: &Transaction) -> B256 {
        let mut buf = [0u8; 66];
        buf[0] = 0x19;
        buf[1] = 0x01;
        buf[2..34].copy_from_slice(self.separator.as_slice());
        buf[34..66].copy_from_slice(Self::struct_hash(tx).as_slice());
        keccak256(buf)
    }

    /// Recover the sender of a transaction, applying every rule of `docs/protocol.md` §2.
    pub fn recover(&self, tx: &Transaction, sig: &Signature) -> Result<Address, RecordError> {
        check_signature_form(sig)?;
        recover_digest(&self.digest(tx), sig)
    }

    /// Sign a transaction with a secret key (deterministic RFC 6979, always low-s).
    pub fn sign(&self, tx: &Transaction, key: &SecretKey) -> Record {
        let msg = Message::from_digest(self.digest(tx).0);
        let (recid, compact) = SECP256K1.sign_ecdsa_recoverable(msg, key).serialize_compact();
        let sig = Signature {
            r: B256::from_slice(&compact[..32]),
            s: B256::from_slice(&compact[32..]),
            v: 27 + i32::from(recid) as u8,
        };
        Record::encode(tx, &sig)
    }

    /// Decode a record and recover its sender.
    pub fn prepare(&self, record: Record) -> PreparedRecord {
        let sender = record
            .decode()
            .and_then(|(tx, sig)| recover_digest(&self.digest(&tx), &sig).map(|s| (tx, s)));
        PreparedRecord { record, sender }
    }

    /// [`Domain::prepare`] for many records, across all cores: signature recovery is the most
    /// expensive part of executing a batch.
    pub fn prepare_all(&self, records: &[Record]) -> Vec<PreparedRecord> {
        if records.len() < 64 {
            return records.iter().map(|r| self.prepare(*r)).collect();
        }
        records.par_iter().with_min_len(32).map(|r| self.prepare(*r)).collect()
    }
}

/// Recover the address that signed `digest`; the signature's form must already be checked.
fn recover_digest(digest: &B256, sig: &Signature) -> Result<Address, RecordError> {
    let recid =
        RecoveryId::try_from(i32::from(sig.v) - 27).map_err(|_| RecordError::InvalidV(sig.v))?;
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(sig.r.as_slice());
    compact[32..].copy_from_slice(sig.s.as_slice());
    let rsig = RecoverableSignature::from_compact(&compact, recid)
        .map_err(|_| RecordError::RecoveryFailed)?;
    let key = SECP256K1
        .recover_ecdsa(Message::from_digest(digest.0), &rsig)
        .map_err(|_| RecordError::RecoveryFailed)?;
    let addr = address_of_public_key(&key);
    if addr == Address::ZERO {
        return Err(RecordError::RecoveryFailed);
    }
    Ok(addr)
}

/// The Ethereum address of a public key.
pub fn address_of_public_key(key: &PublicKey) -> Address {
    let uncompressed = key.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}

/// The Ethereum address of a secret key.
pub fn address_of(key: &SecretKey) -> Address {
    address_of_public_key(&PublicKey::from_secret_key_global(key))
}

/// A record with its decoding and sender recovery done, ready for the STF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreparedRecord {
    /// The raw record.
    pub record: Record,
    /// The decoded transaction and its sender, or why the record is a no-op.
    pub sender: Result<(Transaction, Address), RecordError>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> Domain {
        Domain::new(ChainConfig {
            l2_chain_id: 7_777,
            rollup_address: Address::repeat_byte(0xAB),
            fee_recipient: Address::repeat_byte(0xFE),
        })
    }

    fn tx() -> Transaction {
        Transaction {
            kind: TxKind::Transfer,
            to: Address::repeat_byte(2),
            token: Address::ZERO,
            amount: 1_000,
            fee: 3,
            nonce: 0,
        }
    }

    #[test]
    fn a_recipient_of_address_zero_is_refused_for_both_kinds() {
        let to_zero = Transaction { to: Address::ZERO, ..tx() };
        assert!(to_zero.refusal().is_some_and(|m| m.contains("address(0)")));
        let withdraw = Transaction { kind: TxKind::Withdraw, ..to_zero };
        assert!(withdraw.refusal().is_some_and(|m| m.contains("burned")));
        assert_eq!(tx().refusal(), None);
        assert_eq!(Transaction { kind: TxKind::Withdraw, ..tx() }.refusal(), None);
    }

    #[test]
    fn typehashes_are_the_designed_strings() {
        use alloy_sol_types::SolStruct;
        assert_eq!(
            eip712::Transfer::eip712_encode_type(),
            "Transfer(address to,address token,uint128 amount,uint128 fee,uint64 nonce)"
        );
        assert_eq!(
            eip712::Withdraw::eip712_encode_type(),
            "Withdraw(address recipient,address token,uint128 amount,uint128 fee,uint64 nonce)"
        );
    }

    #[test]
    fn digest_matches_alloy_signing_hash() {
        let d = domain();
        let alloy_domain = alloy_sol_types::eip712_domain! {
            name: "Keel",
            version: "1",
            chain_id: 7_777,
            verifying_contract: Address::repeat_byte(0xAB),
        };
        let t = tx();
        let s = eip712::Transfer {
            to: t.to,
            token: t.token,
            amount: t.amount,
            fee: t.fee,
            nonce: t.nonce,
        };
        assert_eq!(d.separator(), alloy_domain.separator());
        assert_eq!(d.digest(&t), s.eip712_signing_hash(&alloy_domain));
    }

    #[test]
    fn sign_then_recover_gives_signer() {
        let key = SecretKey::from_byte_array([7u8; 32]).expect("valid key");
        let d = domain();
        let record = d.sign(&tx(), &key);
        let prepared = d.prepare(record);
        assert_eq!(prepared.sender, Ok((tx(), address_of(&key))));
    }

    #[test]
    fn wrong_domain_recovers_someone_else() {
        let key = SecretKey::from_byte_array([7u8; 32]).expect("valid key");
        let record = domain().sign(&tx(), &key);
        let other = Domain::new(ChainConfig { l2_chain_id: 1, ..*domain().config() });
        let (_, sender) = other.prepare(record).sender.expect("still recovers");
        assert_ne!(sender, address_of(&key));
    }

    #[test]
    fn strict_decoding_rejects_each_malformation() {
        let key = SecretKey::from_byte_array([7u8; 32]).expect("valid key");
        let good = domain().sign(&tx(), &key);
        assert!(good.decode().is_ok());
        let mut r = good;
        r.0[0] = 3;
        assert_eq!(r.decode(), Err(RecordError::UnknownKind(3)));
        let mut r = good;
        r.0[145] = 29;
        assert_eq!(r.decode(), Err(RecordError::InvalidV(29)));
        let mut r = good;
        r.0[81..113].fill(0);
        assert_eq!(r.decode(), Err(RecordError::InvalidR));
        let mut r = good;
        r.0[81..113].copy_from_slice(&SECP256K1_N.to_be_bytes::<32>());
        assert_eq!(r.decode(), Err(RecordError::InvalidR));
        let mut r = good;
        r.0[113..145].fill(0);
        assert_eq!(r.decode(), Err(RecordError::ZeroS));
        let mut r = good;
        let high = SECP256K1_N - U256::from_be_slice(&good.0[113..145]);
        r.0[113..145].copy_from_slice(&high.to_be_bytes::<32>());
        assert_eq!(r.decode(), Err(RecordError::HighS));
        assert_eq!(Record::from_slice(&[0u8; 145]), Err(RecordError::WrongLength(145)));
    }

    #[test]
    fn prepare_all_matches_prepare() {
        let d = domain();
        let records: Vec<Record> = (0..200u8)
            .map(|i| {
                let key = SecretKey::from_byte_array([i.max(1); 32]).expect("valid key");
                d.sign(&Transaction { nonce: u64::from(i), ..tx() }, &key)
            })
            .collect();
        let one_by_one: Vec<_> = records.iter().map(|r| d.prepare(*r)).collect();
        assert_eq!(d.prepare_all(&records), one_by_one);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = split_records(&bytes);
            if let Ok(r) = Record::from_slice(&bytes) {
                let _ = domain().prepare(r);
            }
        }

        #[test]
        fn random_records_never_panic(bytes in proptest::array::uniform32(proptest::num::u8::ANY), v in 0u8..=255, kind in 0u8..4) {
            let mut b = [0u8; RECORD_LEN];
            b[0] = kind;
            b[81..113].copy_from_slice(&bytes);
            b[113..145].copy_from_slice(&bytes);
            b[145] = v;
            let _ = domain().prepare(Record(b));
        }
    }
}
